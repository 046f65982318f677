// The op test table. Inputs are filled by the harness: uniform(-1, 1), except names ending in
// "var" (variances: uniform(0.5, 1.5)), "_unit" (images: uniform(0, 1)), "_step" (step sizes:
// uniform(0.05, 0.2)) and i32 labels (targets: a class other than the label).
#include "ops/op_cases.h"

#include "ops/attack.h"
#include "ops/basic.h"
#include "ops/batch_norm.h"
#include "ops/collective.h"
#include "ops/concat.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include "ops/losses.h"
#include "ops/moe.h"
#include "ops/op_registry.h"
#include "ops/optimizer.h"
#include "ops/pooling.h"
#include "ops/sparse.h"

namespace advmoe::testing {

namespace {

Val in(Graph& g, const std::string& name, const Shape& shape) {
  return {&g, g.input(name, shape)};
}
Val param(Graph& g, const std::string& name, const Shape& shape) {
  return {&g, g.param(name, shape)};
}

OpCase conv(const std::string& name, Shape x, Shape w, int stride, int pad, bool bias,
            bool gradcheck = true) {
  return {name,
          [=](Graph& g) {
            Val xv = in(g, "x", x), wv = param(g, "w", w);
            if (bias) return conv2d(xv, wv, param(g, "b", Shape{w[0]}), stride, pad, "conv");
            return conv2d(xv, wv, stride, pad, "conv");
          },
          {Mode::Train},
          gradcheck};
}

// The eval-mode fusion's nodes (compile/eval_fusion.h), built as the pass builds them. The
// pass runs after autodiff, so their inputs are Buffers (parity only). A conv with its ReLU:
OpCase fused_relu_conv(const std::string& name, Shape x, Shape w, int stride, int pad, bool bias) {
  return {name,
          [=](Graph& g) {
            std::vector<ValueId> inputs{g.buffer("x", x), g.buffer("w", w)};
            if (bias) inputs.push_back(g.buffer("b", Shape{w[0]}));
            ConvAttrs attrs{stride, pad, {}, /*relu=*/true};
            return Val{&g, add_op(g, Op::Conv2d, "conv", inputs, attrs).at(0)};
          },
          {Mode::Train, Mode::Eval},
          false};
}

// An expert conv with its folded batch norm's bias and ReLU; routes from top1 over a Buffer.
OpCase fused_expert_conv(const std::string& name, Shape x, int experts, int64_t width, bool dense) {
  return {name,
          [=](Graph& g) {
            Route r = top1(Val{&g, g.buffer("router_logits", Shape{x[0], experts})});
            std::vector<ValueId> inputs{g.buffer("x", x),
                                        g.buffer("w", Shape{experts * width, 3, 3, x[3]}),
                                        r.index.id, g.buffer("b", Shape{width})};
            ExpertConvAttrs attrs{1, 1, experts, dense, {}, /*relu=*/true};
            return Val{&g, add_op(g, Op::ExpertConv, "experts", inputs, attrs).at(0)};
          },
          {Mode::Train, Mode::Eval},
          false};
}

// A batch norm folded into the conv before it: the scaled filters (and the folded bias, marked).
// `experts` > 1: an expert conv's weight, E banks of the batch norm's channels.
OpCase fold(const std::string& name, bool bias, int64_t experts = 1) {
  return {name,
          [=](Graph& g) {
            auto buffer = [&](const char* n, const Shape& s) { return Val{&g, g.buffer(n, s)}; };
            const int64_t o = 6;
            std::vector<Val> out = fold_batch_norm(
                buffer("w", {experts * o, 3, 3, 4}), buffer("gamma", {o}), buffer("beta", {o}),
                buffer("running_mean", {o}), buffer("running_var", {o}),
                bias ? buffer("b", {o}) : Val{}, BatchNormAttrs{}, "fold");
            g.mark_output(out[1].id, "fold.bias");
            return out[0];
          },
          {Mode::Eval},
          false};
}

// synchronized: --sync-bn's kernels (statistics summed over the ranks; a group of one here).
OpCase bn(const std::string& name, Shape x, bool gradcheck = true, bool synchronized = false) {
  BatchNormAttrs attrs;
  attrs.synchronized = synchronized;
  return {name,
          [=](Graph& g) {
            int64_t c = x[-1];
            return batch_norm(in(g, "x", x), param(g, "gamma", Shape{c}),
                              param(g, "beta", Shape{c}),
                              Val{&g, g.buffer("running_mean", Shape{c})},
                              Val{&g, g.buffer("running_var", Shape{c})}, attrs, "bn");
          },
          {Mode::Train, Mode::Eval},
          gradcheck,
          /*on_cuda=*/!synchronized};
}

// The gradient all-reduce over a group of one: the mean of one rank is the tensor itself. Its
// inputs are Buffers (it is not differentiable, like the SGD update).
OpCase allreduce(const std::string& name) {
  return {name,
          [=](Graph& g) {
            std::vector<Val> out =
                allreduce_mean({Val{&g, g.buffer("a", {3, 5})}, Val{&g, g.buffer("b", {7})}}, "ar");
            g.mark_output(out[0].id, "ar.a");
            return out[1];
          },
          {Mode::Train},
          false};
}

OpCase pgd(const std::string& name, bool l2) {
  return {name,
          [=](Graph& g) {
            const Shape shape{3, 4, 4, 2};
            auto buffer = [&](const char* n) { return Val{&g, g.buffer(n, shape)}; };
            return pgd_step(buffer("x"), buffer("x0"), buffer("grad"), 0.3, l2 ? 0.5 : 0.1, l2,
                            "step");
          },
          {Mode::Eval},
          false};
}

// The SGD update: parameter, gradient, momentum and learning rate as Buffers, so the harness
// compares the parameter and momentum the node writes in place (its output is the rate applied).
OpCase sgd(const std::string& name, bool nesterov) {
  return {name,
          [=](Graph& g) {
            auto buffer = [&](const char* n, const Shape& s) { return Val{&g, g.buffer(n, s)}; };
            return sgd_update(buffer("p", {3, 5}), buffer("g", {3, 5}), buffer("m", {3, 5}),
                              buffer("lr", {}), SgdAttrs{0.9, 5e-4, nesterov}, "sgd");
          },
          {Mode::Train},
          false};
}

// Random starts: x0 a Buffer, the Philox key an i32 input (the harness fills it with {3, 0}).
// first_row / total_rows > 0: the batch is rows [first_row, first_row + 3) of a larger global
// batch (a data-parallel rank's share).
OpCase start(const std::string& name, PgdStartAttrs::Kind kind, bool l2, int64_t first_row = 0,
             int64_t total_rows = 0) {
  return {name,
          [=](Graph& g) {
            PgdStartAttrs a;
            a.kind = kind;
            a.epsilon = 0.3;
            a.l2 = l2;
            a.seed = 5;
            a.first_row = first_row;
            a.total_rows = total_rows;
            return pgd_start(Val{&g, g.buffer("x0", {3, 4, 4, 2})},
                             Val{&g, g.input("key", {2}, DType::I32)}, a, "start");
          },
          {Mode::Eval},
          false};
}

// Per-sample attack losses on 6 x 5 logits; scaled by 3 so DLR's denominators stay well away from
// zero (finite differences across a change of the sorted order would measure the kink).
OpCase attack_loss(const std::string& name, SampleLossAttrs::Kind kind) {
  return {name, [=](Graph& g) {
            Val logits = 3.0 * in(g, "logits", {6, 5});
            Val labels{&g, g.input("labels", {6}, DType::I32)};
            bool targeted =
                kind == SampleLossAttrs::DlrTargeted || kind == SampleLossAttrs::TargetMargin;
            if (!targeted) return sample_loss(logits, labels, SampleLossAttrs{kind}, "loss");
            return sample_loss(logits, labels, Val{&g, g.input("targets", {6}, DType::I32)},
                               SampleLossAttrs{kind}, "loss");
          }};
}

// APGD's step: images in [0, 1], the previous iterate, a gradient, per-sample step sizes and the
// momentum weight as Buffers (parity only).
OpCase apgd(const std::string& name, bool l2) {
  return {name,
          [=](Graph& g) {
            const Shape shape{3, 4, 4, 2};
            auto buffer = [&](const char* n, const Shape& s) { return Val{&g, g.buffer(n, s)}; };
            return apgd_step(buffer("x_unit", shape), buffer("x_prev_unit", shape),
                             buffer("x0_unit", shape), buffer("grad", shape),
                             buffer("eta_step", {3}), buffer("alpha_unit", {}), l2 ? 0.8 : 0.1, l2,
                             "step");
          },
          {Mode::Eval},
          false};
}

// FAB's step from x in [0, 1] around x0 (parity only).
OpCase fab(const std::string& name, bool l2) {
  return {name,
          [=](Graph& g) {
            const Shape shape{3, 4, 4, 2};
            auto buffer = [&](const char* n, const Shape& s) { return Val{&g, g.buffer(n, s)}; };
            FabStepAttrs attrs;
            attrs.l2 = l2;
            return fab_step(buffer("x_unit", shape), buffer("x0_unit", shape), buffer("w", shape),
                            buffer("f", {3}), attrs, "step");
          },
          {Mode::Eval},
          false};
}

OpCase pool(const std::string& name, Shape x, bool max, int k, int s, int p,
            bool gradcheck = true) {
  return {name,
          [=](Graph& g) {
            Val xv = in(g, "x", x);
            return max ? max_pool(xv, k, s, p, "pool") : avg_pool(xv, k, s, p, "pool");
          },
          {Mode::Train},
          gradcheck};
}

// y = channel_gate(expert_conv(x, w, route), gate) with (route, gate) = top1(logits).
OpCase moe(const std::string& name, Shape x, int experts, int64_t width, int stride, int pad,
           bool dense, bool gradcheck = true) {
  return {name,
          [=](Graph& g) {
            Val logits{&g, g.buffer("router_logits", Shape{x[0], experts})};
            Route r = top1(logits);
            Val w = param(g, "w", {experts * width, 3, 3, x[3]});
            Val y = expert_conv(in(g, "x", x), w, r.index, experts, stride, pad, dense, "experts");
            return channel_gate(y, r.gate);
          },
          {Mode::Train},
          gradcheck};
}

// A Sparse-CNN layer: conv(x, w * topk_mask(scores)) with the scores a Buffer (the mask is
// piecewise constant; its straight-through gradient has its own test in test_sparse.cpp), so the
// finite-difference check covers x and w through the mask, and parity covers the mask itself.
OpCase masked_conv(const std::string& name, double keep, bool structured) {
  return {name, [=](Graph& g) {
            Val scores{&g, g.buffer("scores", Shape{6, 3, 3, 2})};
            TopkMask m = topk_mask(scores, keep, structured, "mask");
            Val w = param(g, "w", {6, 3, 3, 2});
            return conv2d(in(g, "x", {2, 5, 5, 2}), w * m.mask, 1, 1, "conv");
          }};
}

// The filter mask alone (parity only: nothing in it is differentiable).
OpCase filter_mask(const std::string& name, double keep, bool structured) {
  return {name,
          [=](Graph& g) {
            Val scores{&g, g.buffer("scores", Shape{7, 2, 2, 3})};
            return topk_mask(scores, keep, structured, "mask").filter_mask;
          },
          {Mode::Train},
          false};
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases = {
      conv("conv2d_3x3_pad1_bias", {2, 5, 5, 3}, {4, 3, 3, 3}, 1, 1, true),
      conv("conv2d_3x3_stride2", {2, 7, 7, 2}, {3, 3, 3, 2}, 2, 0, false),
      conv("conv2d_1x1_stride2", {2, 6, 6, 4}, {5, 1, 1, 4}, 2, 0, false),
      conv("conv2d_wide_bias", {4, 10, 10, 16}, {32, 3, 3, 16}, 1, 1, true, false),
      conv("conv2d_wide_stride2", {4, 9, 9, 32}, {64, 3, 3, 32}, 2, 1, false, false),
      conv("conv2d_first_layer", {8, 28, 28, 1}, {32, 3, 3, 1}, 1, 1, false, false),
      fused_relu_conv("conv2d_fused_relu", {2, 5, 5, 3}, {4, 3, 3, 3}, 1, 1, true),
      fused_relu_conv("conv2d_fused_relu_wide", {4, 9, 9, 32}, {64, 3, 3, 32}, 2, 1, false),
      fold("fold_batch_norm", false),
      fold("fold_batch_norm_bias", true),
      fold("fold_batch_norm_experts", false, 3),
      bn("batch_norm_nhwc", {3, 4, 4, 5}),
      bn("batch_norm_rows", {6, 4}),
      bn("batch_norm_wide", {8, 6, 6, 64}, false),
      bn("batch_norm_synchronized", {3, 4, 4, 5}, true, true),
      pool("max_pool_2x2", {2, 6, 6, 3}, true, 2, 2, 0),
      pool("max_pool_3x3_s2_p1", {2, 7, 7, 3}, true, 3, 2, 1),
      pool("max_pool_wide", {4, 8, 8, 32}, true, 2, 2, 0, false),
      pool("avg_pool_2x2", {2, 6, 6, 3}, false, 2, 2, 0),
      pool("avg_pool_3x3_s1_p1", {2, 5, 5, 2}, false, 3, 1, 1),
      pool("avg_pool_wide", {4, 8, 8, 32}, false, 2, 2, 0, false),
      {"global_avg_pool",
       [](Graph& g) {
         return global_avg_pool(in(g, "x", {2, 3, 4, 5}));
       }},
      {"global_avg_pool_wide",
       [](Graph& g) {
         return global_avg_pool(in(g, "x", {8, 4, 4, 64}));
       },
       {Mode::Train},
       false},
      {"relu",
       [](Graph& g) {
         return relu(in(g, "x", {2, 3, 3, 4}));
       }},
      {"add",
       [](Graph& g) {
         return in(g, "a", {2, 3, 4}) + in(g, "b", {2, 3, 4});
       }},
      {"add_n",
       [](Graph& g) {
         return add_n({in(g, "a", {5, 3}), in(g, "b", {5, 3}), in(g, "c", {5, 3})});
       }},
      {"mul",
       [](Graph& g) {
         return in(g, "a", {4, 6}) * in(g, "b", {4, 6});
       }},
      {"scale",
       [](Graph& g) {
         return -0.7 * in(g, "x", {4, 6});
       }},
      {"flatten",
       [](Graph& g) {
         return flatten(in(g, "x", {2, 3, 3, 2}));
       }},
      {"linear_bias",
       [](Graph& g) {
         return linear(in(g, "x", {4, 6}), param(g, "w", {3, 6}), param(g, "b", {3}));
       }},
      {"linear_no_bias",
       [](Graph& g) {
         return linear(in(g, "x", {5, 7}), param(g, "w", {4, 7}));
       }},
      {"linear_wide",
       [](Graph& g) {
         return linear(in(g, "x", {64, 256}), param(g, "w", {10, 256}), param(g, "b", {10}));
       },
       {Mode::Train},
       false},
      {"softmax_cross_entropy",
       [](Graph& g) {
         return softmax_cross_entropy(in(g, "logits", {6, 5}),
                                      Val{&g, g.input("labels", {6}, DType::I32)});
       }},
      {"log_softmax",
       [](Graph& g) {
         return log_softmax(in(g, "x", {4, 5}));
       }},
      // Logits scaled by 3 so p and q differ clearly: for nearly equal distributions KL is a
      // cancellation of nearly equal f32 log-probabilities and parity would measure rounding.
      {"kl_div",
       [](Graph& g) {
         return kl_div(log_softmax(3.0 * in(g, "p_logits", {4, 5})),
                       log_softmax(3.0 * in(g, "q_logits", {4, 5})));
       }},
      {"channel_affine",
       [](Graph& g) {
         return channel_affine(in(g, "x", {2, 3, 3, 3}), {1 / 0.247, 1 / 0.243, 1 / 0.261},
                               {-0.491 / 0.247, -0.482 / 0.243, -0.447 / 0.261});
       }},
      // MoE: routes come from top1 over a Buffer of logits (a Buffer is not differentiated, so
      // the finite-difference check does not meet the straight-through estimator; the STE has its
      // own test in test_moe.cpp).
      moe("expert_conv_3_experts", {6, 5, 5, 3}, 3, 4, 1, 1, false),
      moe("expert_conv_3_experts_dense_mode", {6, 5, 5, 3}, 3, 4, 1, 1, true),
      moe("expert_conv_stride2", {5, 7, 7, 2}, 2, 3, 2, 0, false),
      moe("expert_conv_wide", {16, 8, 8, 16}, 4, 16, 1, 1, false, false),
      moe("expert_conv_wide_dense_mode", {16, 8, 8, 16}, 4, 16, 1, 1, true, false),
      fused_expert_conv("expert_conv_folded_bias_relu", {6, 5, 5, 3}, 3, 4, false),
      fused_expert_conv("expert_conv_folded_bias_relu_wide", {16, 8, 8, 16}, 4, 16, false),
      fused_expert_conv("expert_conv_folded_bias_relu_dense_mode", {6, 5, 5, 3}, 3, 4, true),
      {"balance_loss",
       [](Graph& g) {
         // Routes from a separate Buffer: fixed while the logits are perturbed.
         Route r = top1(Val{&g, g.buffer("route_logits", {9, 3})});
         return balance_loss(in(g, "router_logits", {9, 3}), r.index);
       }},
      {"channel_gate",
       [](Graph& g) {
         return channel_gate(in(g, "features", {4, 3, 3, 2}), in(g, "gate", {4}));
       }},
      {"concat_channels",
       [](Graph& g) {
         return concat_channels(
             {in(g, "a", {2, 3, 3, 2}), in(g, "b", {2, 3, 3, 5}), in(g, "c", {2, 3, 3, 1})});
       }},
      // The PGD step is not differentiable: its inputs are Buffers (parity only). Values in
      // [-1, 1] with a 0.3-ball exercise both clips.
      attack_loss("sample_loss_cross_entropy", SampleLossAttrs::CrossEntropy),
      attack_loss("sample_loss_dlr", SampleLossAttrs::Dlr),
      attack_loss("sample_loss_dlr_targeted", SampleLossAttrs::DlrTargeted),
      attack_loss("sample_loss_target_margin", SampleLossAttrs::TargetMargin),
      apgd("apgd_step_linf", false),
      apgd("apgd_step_l2", true),
      fab("fab_step_linf", false),
      fab("fab_step_l2", true),
      pgd("pgd_step_linf", false),
      pgd("pgd_step_l2", true),
      start("pgd_start_uniform", PgdStartAttrs::Uniform, false),
      start("pgd_start_uniform_l2", PgdStartAttrs::Uniform, true),
      start("pgd_start_trades", PgdStartAttrs::Trades, false),
      start("pgd_start_uniform_rank_share", PgdStartAttrs::Uniform, false, 3, 9),
      start("pgd_start_uniform_l2_rank_share", PgdStartAttrs::Uniform, true, 3, 9),
      allreduce("allreduce_mean"),
      masked_conv("topk_mask_unstructured_conv", 0.3, false),
      masked_conv("topk_mask_structured_conv", 0.5, true),
      filter_mask("topk_mask_filters_unstructured", 0.1, false),
      filter_mask("topk_mask_filters_structured", 0.4, true),
      {"topk_mask_linear",
       [](Graph& g) {
         Val scores{&g, g.buffer("scores", Shape{4, 6})};
         Val w = param(g, "w", {4, 6});
         return linear(in(g, "x", {3, 6}), w * topk_mask(scores, 0.4, false, "mask").mask);
       }},
      sgd("sgd_update", false),
      sgd("sgd_update_nesterov", true),
      {"sum",
       [](Graph& g) {
         return sum(in(g, "x", {3, 4}));
       }},
      {"mean",
       [](Graph& g) {
         return mean(in(g, "x", {3, 4}));
       }},
  };
  return cases;
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = make_cases();
  return cases;
}

}  // namespace advmoe::testing
