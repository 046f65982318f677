// Shape and gradient rules of the MoE nodes.
#include "ops/moe.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Route top1(Val logits, const std::string& name) {
  std::vector<Val> out = emit(*logits.graph, Op::Top1, name, {logits});
  return {out[0], out[1]};
}

Val expert_conv(Val x, Val w, Val route, int experts, int stride, int padding, bool dense,
                const std::string& name) {
  return emit1(*x.graph, Op::ExpertConv, name, {x, w, route},
               ExpertConvAttrs{stride, padding, experts, dense, {}, false});
}

Val channel_gate(Val y, Val gate, const std::string& name) {
  return emit1(*y.graph, Op::ChannelGate, name, {y, gate});
}

Val balance_loss(Val logits, Val route, const std::string& name) {
  return emit1(*logits.graph, Op::BalanceLoss, name, {logits, route});
}

namespace {

// x [N, H, W, C], w [E * o, k, k, C], route i32 [N]: checks and returns y's shape.
Shape expert_output_shape(const Node& n, const Shape& x, const Shape& w, const Shape& route) {
  const ExpertConvAttrs& a = std::get<ExpertConvAttrs>(n.attrs);
  const char* op = op_def(n.op).name;
  ADVMOE_CHECK(x.rank() == 4 && w.rank() == 4,
               op << " '" << n.name << "': input " << x << " / weight " << w << " must be rank 4");
  ADVMOE_CHECK(a.experts >= 1 && w[0] % a.experts == 0, op << " '" << n.name << "': weight " << w
                                                           << " does not split into " << a.experts
                                                           << " experts");
  ADVMOE_CHECK(x[3] == w[3], op << " '" << n.name << "': input has " << x[3]
                                << " channels but weight " << w << " expects " << w[3]);
  ADVMOE_CHECK(route == Shape{x[0]},
               op << " '" << n.name << "': route must be [" << x[0] << "], got " << route);
  int64_t ho = (x[1] + 2 * a.padding - w[1]) / a.stride + 1;
  int64_t wo = (x[2] + 2 * a.padding - w[2]) / a.stride + 1;
  ADVMOE_CHECK(ho >= 1 && wo >= 1, op << " '" << n.name << "': kernel does not fit " << x);
  return Shape{x[0], ho, wo, w[0] / a.experts};
}

ExpertConvAttrs with_result(const Node& n, const Shape& s) {
  ExpertConvAttrs a = std::get<ExpertConvAttrs>(n.attrs);
  a.result_shape = s;
  return a;
}

}  // namespace

void register_moe_ops(OpTable& t) {
  row(t, Op::Top1) = {"top1",
                      [](const Graph& g, const Node& n) {
                        expect_inputs(g, n, 1, 1);
                        expect_rank(g, n, 0, 2);
                        int64_t batch = in_shape(g, n, 0)[0];
                        return std::vector<ValueSpec>{{Shape{batch}, DType::I32},
                                                      {Shape{batch}, in_dtype(g, n, 0)}};
                      },
                      [](GradRequest& r) {
                        if (r.output_grads[1] == kNoValue) return std::vector<ValueId>{kNoValue};
                        Val d = emit1(r.graph, Op::Top1Backward, r.backward_name("ste"),
                                      {r.dout(1), r.out(0)}, ShapeAttrs{r.in(0).shape(), 0});
                        return std::vector<ValueId>{d.id};
                      }};
  row(t, Op::Top1Backward) = {
      "top1_backward",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 2);
        expect_dtype(g, n, 1, DType::I32);
        return std::vector<ValueSpec>{{std::get<ShapeAttrs>(n.attrs).shape, in_dtype(g, n, 0)}};
      },
      nullptr};
  row(t, Op::ExpertConv) = {
      "expert_conv",
      [](const Graph& g, const Node& n) {
        // A fourth input, a bias [o], comes only from the eval-mode fusion (folded batch norm).
        expect_inputs(g, n, 3, 4);
        expect_dtype(g, n, 2, DType::I32);
        Shape y = expert_output_shape(n, in_shape(g, n, 0), in_shape(g, n, 1), in_shape(g, n, 2));
        if (n.inputs.size() == 4)
          ADVMOE_CHECK(in_shape(g, n, 3) == Shape{y[3]},
                       "expert_conv '" << n.name << "': bias must be [" << y[3] << "], got "
                                       << in_shape(g, n, 3));
        return std::vector<ValueSpec>{{y, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        ADVMOE_CHECK(r.node.inputs.size() == 3 && !std::get<ExpertConvAttrs>(r.node.attrs).relu,
                     "expert_conv '"
                         << r.node.name
                         << "': an expert conv with a folded batch norm is not "
                            "differentiated (the eval-mode fusion runs after autodiff)");
        std::vector<ValueId> grads(3, kNoValue);
        if (r.needs(0))
          grads[0] = emit1(r.graph, Op::ExpertConvBackwardData, r.backward_name("backward_data"),
                           {r.dout(0), r.in(1), r.in(2)}, with_result(r.node, r.in(0).shape()))
                         .id;
        if (r.needs(1))
          grads[1] =
              emit1(r.graph, Op::ExpertConvBackwardWeights, r.backward_name("backward_weights"),
                    {r.dout(0), r.in(0), r.in(2)}, with_result(r.node, r.in(1).shape()))
                  .id;
        return grads;
      }};
  row(t, Op::ExpertConvBackwardData) = {
      "expert_conv_backward_data",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 3, 3);
        const Shape& x = std::get<ExpertConvAttrs>(n.attrs).result_shape;
        ADVMOE_CHECK(
            in_shape(g, n, 0) == expert_output_shape(n, x, in_shape(g, n, 1), in_shape(g, n, 2)),
            "expert_conv_backward_data '" << n.name << "': gradient shape mismatch");
        return std::vector<ValueSpec>{{x, in_dtype(g, n, 0)}};
      },
      nullptr};
  row(t, Op::ExpertConvBackwardWeights) = {
      "expert_conv_backward_weights",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 3, 3);
        const Shape& w = std::get<ExpertConvAttrs>(n.attrs).result_shape;
        ADVMOE_CHECK(
            in_shape(g, n, 0) == expert_output_shape(n, in_shape(g, n, 1), w, in_shape(g, n, 2)),
            "expert_conv_backward_weights '" << n.name << "': gradient shape mismatch");
        return std::vector<ValueSpec>{{w, in_dtype(g, n, 0)}};
      },
      nullptr};
  row(t, Op::ChannelGate) = {
      "channel_gate",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 2);
        ADVMOE_CHECK(in_shape(g, n, 1) == Shape{in_shape(g, n, 0)[0]},
                     "channel_gate '" << n.name << "': gate must be [" << in_shape(g, n, 0)[0]
                                      << "], got " << in_shape(g, n, 1));
        return std::vector<ValueSpec>{{in_shape(g, n, 0), in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        std::vector<ValueId> grads(2, kNoValue);
        if (r.needs(0))
          grads[0] = channel_gate(r.dout(0), r.in(1), r.backward_name("backward_data")).id;
        if (r.needs(1))
          grads[1] = emit1(r.graph, Op::ChannelGateBackward, r.backward_name("backward_gate"),
                           {r.dout(0), r.in(0)})
                         .id;
        return grads;
      }};
  row(t, Op::BalanceLoss) = {"balance_loss",
                             [](const Graph& g, const Node& n) {
                               expect_inputs(g, n, 2, 2);
                               expect_rank(g, n, 0, 2);
                               expect_dtype(g, n, 1, DType::I32);
                               ADVMOE_CHECK(in_shape(g, n, 1) == Shape{in_shape(g, n, 0)[0]},
                                            "balance_loss '" << n.name << "': route must be ["
                                                             << in_shape(g, n, 0)[0] << "]");
                               return std::vector<ValueSpec>{{Shape{}, in_dtype(g, n, 0)}};
                             },
                             [](GradRequest& r) {
                               Val d = emit1(r.graph, Op::BalanceLossBackward,
                                             r.backward_name("backward"),
                                             {r.dout(0), r.in(0), r.in(1)});
                               return std::vector<ValueId>{d.id, kNoValue};
                             }};
  row(t, Op::BalanceLossBackward) = {
      "balance_loss_backward",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 3, 3);
        return std::vector<ValueSpec>{{in_shape(g, n, 1), in_dtype(g, n, 1)}};
      },
      nullptr};
  row(t, Op::ChannelGateBackward) = {
      "channel_gate_backward",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 2);
        expect_same_shape(g, n, 0, 1);
        return std::vector<ValueSpec>{{Shape{in_shape(g, n, 0)[0]}, in_dtype(g, n, 0)}};
      },
      nullptr};
}

}  // namespace advmoe
