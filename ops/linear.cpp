// Shape and gradient rules of linear and its backward nodes.
#include "ops/linear.h"

#include "ops/builder.h"
#include "ops/conv2d.h"
#include "ops/op_defs.h"

namespace advmoe {

Val linear(Val x, Val w, const std::string& name) {
  return emit1(*x.graph, Op::Linear, name, {x, w});
}
Val linear(Val x, Val w, Val bias, const std::string& name) {
  return emit1(*x.graph, Op::Linear, name, {x, w, bias});
}
Val linear_backward_data(Val dy, Val w, const std::string& name) {
  return emit1(*dy.graph, Op::LinearBackwardData, name, {dy, w});
}
Val linear_backward_weights(Val dy, Val x, const std::string& name) {
  return emit1(*dy.graph, Op::LinearBackwardWeights, name, {dy, x});
}

void register_linear_ops(OpTable& t) {
  row(t, Op::Linear) = {
      "linear",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 3);
        expect_rank(g, n, 0, 2);
        expect_rank(g, n, 1, 2);
        const Shape &x = in_shape(g, n, 0), &w = in_shape(g, n, 1);
        ADVMOE_CHECK(x[1] == w[1], "linear '" << n.name << "': input has " << x[1]
                                              << " features but weight " << w << " expects "
                                              << w[1]);
        if (n.inputs.size() == 3)
          ADVMOE_CHECK(in_shape(g, n, 2) == Shape{w[0]}, "linear '" << n.name << "': bias must be ["
                                                                    << w[0] << "], got "
                                                                    << in_shape(g, n, 2));
        return std::vector<ValueSpec>{{Shape{x[0], w[0]}, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        std::vector<ValueId> grads(r.node.inputs.size(), kNoValue);
        if (r.needs(0))
          grads[0] = linear_backward_data(r.dout(0), r.in(1), r.backward_name("backward_data")).id;
        if (r.needs(1))
          grads[1] =
              linear_backward_weights(r.dout(0), r.in(0), r.backward_name("backward_weights")).id;
        if (grads.size() == 3 && r.needs(2))
          grads[2] = channel_sum(r.dout(0), r.backward_name("backward_bias")).id;
        return grads;
      }};
  row(t, Op::LinearBackwardData) = {
      "linear_backward_data",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 2);
        const Shape &dy = in_shape(g, n, 0), &w = in_shape(g, n, 1);
        ADVMOE_CHECK(dy.rank() == 2 && w.rank() == 2 && dy[1] == w[0],
                     "linear_backward_data '" << n.name << "': gradient " << dy
                                              << " does not match weight " << w);
        return std::vector<ValueSpec>{{Shape{dy[0], w[1]}, in_dtype(g, n, 0)}};
      },
      nullptr};
  row(t, Op::LinearBackwardWeights) = {
      "linear_backward_weights",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 2);
        const Shape &dy = in_shape(g, n, 0), &x = in_shape(g, n, 1);
        ADVMOE_CHECK(dy.rank() == 2 && x.rank() == 2 && dy[0] == x[0],
                     "linear_backward_weights '" << n.name << "': gradient " << dy
                                                 << " does not match input " << x);
        return std::vector<ValueSpec>{{Shape{dy[1], x[1]}, in_dtype(g, n, 0)}};
      },
      nullptr};
}

}  // namespace advmoe
