// Shape and gradient rules of batch_norm and its backward nodes.
#include "ops/batch_norm.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Val batch_norm(Val x, Val gamma, Val beta, Val running_mean, Val running_var, BatchNormAttrs attrs,
               const std::string& name) {
  return emit1(*x.graph, Op::BatchNorm, name, {x, gamma, beta, running_mean, running_var}, attrs);
}
Val batch_norm_backward_data(Val dy, Val x, Val gamma, Val saved_mean, Val saved_var,
                             BatchNormAttrs attrs, const std::string& name) {
  return emit1(*dy.graph, Op::BatchNormBackwardData, name, {dy, x, gamma, saved_mean, saved_var},
               attrs);
}
std::vector<Val> batch_norm_backward_params(Val dy, Val x, Val saved_mean, Val saved_var,
                                            BatchNormAttrs attrs, const std::string& name) {
  return emit(*dy.graph, Op::BatchNormBackwardParams, name, {dy, x, saved_mean, saved_var}, attrs);
}

std::vector<Val> fold_batch_norm(Val w, Val gamma, Val beta, Val running_mean, Val running_var,
                                 Val bias, BatchNormAttrs attrs, const std::string& name) {
  std::vector<Val> inputs{w, gamma, beta, running_mean, running_var};
  if (bias.valid()) inputs.push_back(bias);
  return emit(*w.graph, Op::FoldBatchNorm, name, inputs, attrs);
}

namespace {

// x must be [N, C] or [N, H, W, C]; every input from `first_vector` on must be [C].
int64_t check_bn_inputs(const Graph& g, const Node& n, int x_input, int first_vector) {
  const Shape& x = in_shape(g, n, x_input);
  const char* op = op_def(n.op).name;
  ADVMOE_CHECK(x.rank() == 2 || x.rank() == 4,
               op << " '" << n.name << "': input must be [N, C] or [N, H, W, C], got " << x);
  int64_t c = x[-1];
  for (size_t i = static_cast<size_t>(first_vector); i < n.inputs.size(); ++i)
    ADVMOE_CHECK(in_shape(g, n, static_cast<int>(i)) == Shape{c},
                 op << " '" << n.name << "': input " << i << " must be [" << c << "], got "
                    << in_shape(g, n, static_cast<int>(i)));
  return c;
}

}  // namespace

void register_batch_norm_ops(OpTable& t) {
  row(t, Op::BatchNorm) = {
      "batch_norm",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 5, 5);
        int64_t c = check_bn_inputs(g, n, 0, 1);
        DType dt = in_dtype(g, n, 0);
        return std::vector<ValueSpec>{{in_shape(g, n, 0), dt}, {Shape{c}, dt}, {Shape{c}, dt}};
      },
      [](GradRequest& r) {
        const auto& a = std::get<BatchNormAttrs>(r.node.attrs);
        std::vector<ValueId> grads(5, kNoValue);
        if (r.needs(0))
          grads[0] = batch_norm_backward_data(r.dout(0), r.in(0), r.in(1), r.out(1), r.out(2), a,
                                              r.backward_name("backward_data"))
                         .id;
        if (r.needs(1) || r.needs(2)) {
          auto params = batch_norm_backward_params(r.dout(0), r.in(0), r.out(1), r.out(2), a,
                                                   r.backward_name("backward_params"));
          grads[1] = params[0].id;
          grads[2] = params[1].id;
        }
        return grads;
      }};
  row(t, Op::BatchNormBackwardData) = {
      "batch_norm_backward_data",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 5, 5);
        expect_same_shape(g, n, 0, 1);
        check_bn_inputs(g, n, 1, 2);
        return std::vector<ValueSpec>{{in_shape(g, n, 1), in_dtype(g, n, 1)}};
      },
      nullptr};
  row(t, Op::BatchNormBackwardParams) = {
      "batch_norm_backward_params",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 4, 4);
        expect_same_shape(g, n, 0, 1);
        int64_t c = check_bn_inputs(g, n, 1, 2);
        DType dt = in_dtype(g, n, 1);
        return std::vector<ValueSpec>{{Shape{c}, dt}, {Shape{c}, dt}};
      },
      nullptr};
  row(t, Op::FoldBatchNorm) = {
      "fold_batch_norm",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 5, 6);
        const Shape& w = in_shape(g, n, 0);
        ADVMOE_CHECK(w.rank() == 4, "fold_batch_norm '"
                                        << n.name << "': weight must be [O, kh, kw, C], got " << w);
        // An expert conv's weight holds E filter banks of the batch norm's c channels each.
        const int64_t c = in_shape(g, n, 1).rank() == 1 ? in_shape(g, n, 1)[0] : -1;
        ADVMOE_CHECK(c >= 1 && w[0] % c == 0, "fold_batch_norm '" << n.name << "': gamma "
                                                                  << in_shape(g, n, 1)
                                                                  << " does not divide the " << w[0]
                                                                  << " filters of weight " << w);
        for (size_t i = 2; i < n.inputs.size(); ++i)
          ADVMOE_CHECK(in_shape(g, n, static_cast<int>(i)) == Shape{c},
                       "fold_batch_norm '" << n.name << "': input " << i << " must be [" << c
                                           << "], got " << in_shape(g, n, static_cast<int>(i)));
        DType dt = in_dtype(g, n, 0);
        return std::vector<ValueSpec>{{w, dt}, {Shape{c}, dt}};
      },
      nullptr};
}

}  // namespace advmoe
