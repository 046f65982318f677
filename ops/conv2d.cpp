// Shape and gradient rules of conv2d, its two backward nodes and channel_sum.
#include "ops/conv2d.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Val conv2d(Val x, Val w, int stride, int padding, const std::string& name) {
  return emit1(*x.graph, Op::Conv2d, name, {x, w}, ConvAttrs{stride, padding, {}});
}
Val conv2d(Val x, Val w, Val bias, int stride, int padding, const std::string& name) {
  return emit1(*x.graph, Op::Conv2d, name, {x, w, bias}, ConvAttrs{stride, padding, {}});
}
Val conv2d_backward_data(Val dy, Val w, const Shape& x_shape, int stride, int padding,
                         const std::string& name) {
  return emit1(*dy.graph, Op::Conv2dBackwardData, name, {dy, w},
               ConvAttrs{stride, padding, x_shape});
}
Val conv2d_backward_weights(Val dy, Val x, const Shape& w_shape, int stride, int padding,
                            const std::string& name) {
  return emit1(*dy.graph, Op::Conv2dBackwardWeights, name, {dy, x},
               ConvAttrs{stride, padding, w_shape});
}
Val channel_sum(Val x, const std::string& name) {
  return emit1(*x.graph, Op::ChannelSum, name, {x});
}

namespace {

int64_t conv_out_size(int64_t in, int64_t k, const ConvAttrs& a) {
  return (in + 2 * a.padding - k) / a.stride + 1;
}

// Checks x/w/dy consistency and returns y's shape; shared by forward and backward rules.
Shape conv_output_shape(const Node& n, const Shape& x, const Shape& w) {
  const ConvAttrs& a = std::get<ConvAttrs>(n.attrs);
  const char* op = op_def(n.op).name;
  ADVMOE_CHECK(x.rank() == 4, op << " '" << n.name << "': input must be [N, H, W, C], got " << x);
  ADVMOE_CHECK(w.rank() == 4,
               op << " '" << n.name << "': weight must be [O, kh, kw, C], got " << w);
  ADVMOE_CHECK(x[3] == w[3], op << " '" << n.name << "': input has " << x[3]
                                << " channels but weight " << w << " expects " << w[3]);
  ADVMOE_CHECK(a.stride >= 1 && a.padding >= 0,
               op << " '" << n.name << "': bad stride " << a.stride << " / padding " << a.padding);
  int64_t ho = conv_out_size(x[1], w[1], a), wo = conv_out_size(x[2], w[2], a);
  ADVMOE_CHECK(ho >= 1 && wo >= 1, op << " '" << n.name << "': kernel " << w[1] << "x" << w[2]
                                      << " does not fit input " << x);
  return Shape{x[0], ho, wo, w[0]};
}

void expect_dy(const Node& n, const Shape& dy, const Shape& expected) {
  ADVMOE_CHECK(dy == expected, op_def(n.op).name << " '" << n.name << "': gradient has shape " << dy
                                                 << ", expected " << expected);
}

}  // namespace

void register_conv_ops(OpTable& t) {
  row(t, Op::Conv2d) = {
      "conv2d",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 3);
        Shape y = conv_output_shape(n, in_shape(g, n, 0), in_shape(g, n, 1));
        if (n.inputs.size() == 3)
          ADVMOE_CHECK(in_shape(g, n, 2) == Shape{y[3]}, "conv2d '" << n.name << "': bias must be ["
                                                                    << y[3] << "], got "
                                                                    << in_shape(g, n, 2));
        return std::vector<ValueSpec>{{y, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        const ConvAttrs& a = std::get<ConvAttrs>(r.node.attrs);
        ADVMOE_CHECK(!a.relu, "conv2d '" << r.node.name
                                         << "': a conv with a fused ReLU is not differentiated "
                                            "(the eval-mode fusion runs after autodiff)");
        std::vector<ValueId> grads(r.node.inputs.size(), kNoValue);
        if (r.needs(0))
          grads[0] = conv2d_backward_data(r.dout(0), r.in(1), r.in(0).shape(), a.stride, a.padding,
                                          r.backward_name("backward_data"))
                         .id;
        if (r.needs(1))
          grads[1] = conv2d_backward_weights(r.dout(0), r.in(0), r.in(1).shape(), a.stride,
                                             a.padding, r.backward_name("backward_weights"))
                         .id;
        if (grads.size() == 3 && r.needs(2))
          grads[2] = channel_sum(r.dout(0), r.backward_name("backward_bias")).id;
        return grads;
      }};

  row(t, Op::Conv2dBackwardData) = {"conv2d_backward_data",
                                    [](const Graph& g, const Node& n) {
                                      expect_inputs(g, n, 2, 2);
                                      const Shape& x = std::get<ConvAttrs>(n.attrs).result_shape;
                                      expect_dy(n, in_shape(g, n, 0),
                                                conv_output_shape(n, x, in_shape(g, n, 1)));
                                      return std::vector<ValueSpec>{{x, in_dtype(g, n, 0)}};
                                    },
                                    nullptr};

  row(t, Op::Conv2dBackwardWeights) = {"conv2d_backward_weights",
                                       [](const Graph& g, const Node& n) {
                                         expect_inputs(g, n, 2, 2);
                                         const Shape& w = std::get<ConvAttrs>(n.attrs).result_shape;
                                         expect_dy(n, in_shape(g, n, 0),
                                                   conv_output_shape(n, in_shape(g, n, 1), w));
                                         return std::vector<ValueSpec>{{w, in_dtype(g, n, 0)}};
                                       },
                                       nullptr};

  row(t, Op::ChannelSum) = {"channel_sum",
                            [](const Graph& g, const Node& n) {
                              expect_inputs(g, n, 1, 1);
                              const Shape& x = in_shape(g, n, 0);
                              ADVMOE_CHECK(x.rank() >= 1,
                                           "channel_sum '" << n.name << "': needs rank >= 1");
                              return std::vector<ValueSpec>{{Shape{x[-1]}, in_dtype(g, n, 0)}};
                            },
                            nullptr};
}

}  // namespace advmoe
