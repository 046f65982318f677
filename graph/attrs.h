// Attribute structs of the ops that have attributes; a Node holds one of them in a variant.
// Shapes stored here (result_shape) let backward nodes know a size their inputs do not carry.
#pragma once

#include <variant>
#include <vector>

#include "runtime/shape.h"

namespace advmoe {

struct NoAttrs {};

struct ConvAttrs {
  int stride = 1;
  int padding = 0;
  Shape result_shape;  // backward nodes: shape of dx (backward_data) or dw (backward_weights)
  // conv2d only: y = max(conv + bias, 0). Set by the eval-mode fusion pass (compile/eval_fusion.h)
  // when a ReLU was the sole reader; model code never sets it.
  bool relu = false;
};

struct PoolAttrs {
  int kernel = 2;
  int stride = 2;
  int padding = 0;
  Shape result_shape;  // backward nodes: shape of dx
};

struct BatchNormAttrs {
  double eps = 1e-5;
  double momentum = 0.1;  // PyTorch convention: running = (1 - m) * running + m * batch
  // Train mode: the batch statistics (and their gradient's two sums) are summed over the ranks
  // of the process group (--sync-bn, docs/distributed.md), so P ranks of B/P samples normalize
  // as one batch of B. No effect in eval mode or in a single process.
  bool synchronized = false;
};

struct ScaleAttrs {
  double alpha = 1.0;
};

// Reshape, broadcast and fill: the shape to produce; fill also uses `value`, broadcast `scale`.
struct ShapeAttrs {
  Shape shape;
  double value = 0.0;
};

struct KlBackwardAttrs {
  int wrt = 0;  // 0: gradient w.r.t. log_p, 1: w.r.t. log_q
};

// channel_slice: channels [offset, offset + count) of the last axis.
struct SliceAttrs {
  int64_t offset = 0;
  int64_t count = 0;
};

// channel_affine: y[..., c] = x[..., c] * scale[c] + shift[c], constants of the graph (input
// normalization lives in the model so attacks stay in [0, 1] pixel space).
struct AffineAttrs {
  std::vector<double> scale, shift;
};

// expert_conv: a conv whose weight holds `experts` slices of equal width; `dense` computes every
// expert and selects (the parity oracle) instead of grouping samples by expert.
struct ExpertConvAttrs {
  int stride = 1;
  int padding = 0;
  int experts = 1;
  bool dense = false;
  Shape result_shape;  // backward nodes: shape of dx or dw
  // expert_conv only: y = max(conv + bias, 0), set with a bias input [o] by the eval-mode fusion
  // pass (compile/eval_fusion.h) when it folds the batch norm after the expert conv and a ReLU
  // was that batch norm's sole reader; model code never sets it.
  bool relu = false;
};

// pgd_step: the attack's radius and step size, in the norm the attack uses.
struct PgdStepAttrs {
  double epsilon = 0;
  double step_size = 0;
  bool l2 = false;  // false: L-inf
};

// pgd_start: where an attack begins around x0 (the draws come from Philox stream (seed, key)).
struct PgdStartAttrs {
  enum Kind { Uniform, Trades };  // x0 + U(-eps, eps) (L2: uniform in the ball) | x0 + 0.001 N
  Kind kind = Uniform;
  double epsilon = 0;
  bool l2 = false;
  uint64_t seed = 0;
  // Data-parallel: this batch is rows [first_row, first_row + N) of a global batch of
  // total_rows (0: N), and draws as those rows of the global batch would, so P ranks start
  // where one process would (docs/distributed.md).
  int64_t first_row = 0, total_rows = 0;
};

// sample_loss: a per-sample attack loss on logits [N, K] (labels y, targets t):
//   CrossEntropy  lse(z) - z_y
//   Dlr           -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)            (K >= 3)
//   DlrTargeted   -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)         (K >= 4)
//   TargetMargin  z_y - z_t (FAB's linearized decision function; zero on the boundary)
// with z_pi1 >= z_pi2 >= ... the sorted logits (Croce & Hein, ICML 2020).
struct SampleLossAttrs {
  enum Kind { CrossEntropy, Dlr, DlrTargeted, TargetMargin };
  Kind kind = CrossEntropy;
};

// apgd_step: APGD's momentum step (Croce & Hein 2020, eq. 2) with a per-sample step size eta:
//   z  = P(x + eta * s(g)),   x' = P(x + alpha (z - x) + (1 - alpha)(x - x_prev))
// s(g) = sign(g) (L-inf) or g / |g|_2 (L2); P projects onto the eps-ball around x0 and [0, 1].
struct ApgdStepAttrs {
  double epsilon = 0;
  bool l2 = false;
};

// fab_step: one FAB iteration (Croce & Hein, ICML 2020, "minimally distorted adversarial
// examples with a fast adaptive boundary attack"): the minimal-norm steps d1 from x and d2 from
// x0 onto the linearized boundary {w . z = b} inside [0, 1], mixed with the bias towards x0
//   x' = clip((x + eta d1)(1 - a) + (x0 + eta d2) a, 0, 1),  a = min(|d1| / (|d1| + |d2|), a_max)
struct FabStepAttrs {
  double eta = 1.05;
  double alpha_max = 0.1;
  bool l2 = false;  // false: L-inf (norms of d1, d2 and the projection's norm)
};

// topk_mask: HYDRA's mask from importance scores (ops/sparse.h). `keep` in (0, 1] is the share
// of items each tensor keeps: weights (unstructured) or output filters (structured, a filter's
// importance the L1 norm of its scores).
struct TopkMaskAttrs {
  double keep = 1.0;
  bool structured = false;
};

// sgd_update: PyTorch's SGD hyper-parameters (the learning rate is an input: it changes per step).
struct SgdAttrs {
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
};

using Attrs = std::variant<NoAttrs, ConvAttrs, PoolAttrs, BatchNormAttrs, ScaleAttrs, ShapeAttrs,
                           KlBackwardAttrs, SliceAttrs, AffineAttrs, ExpertConvAttrs, PgdStepAttrs,
                           PgdStartAttrs, SgdAttrs, SampleLossAttrs, ApgdStepAttrs, FabStepAttrs,
                           TopkMaskAttrs>;

}  // namespace advmoe
