// Eval-mode fusion, a compile pass over one Plan's live nodes. In eval mode a batch norm is a
// per-channel affine map with fixed statistics, so conv -> batch_norm is one convolution whose
// filters are scaled and which gains a bias:
//   s = gamma / sqrt(running_var + eps),  w' = w * s (per output channel),
//   b' = (b - running_mean) * s + beta.
// The pass rewrites each such pair into fold_batch_norm (w, b -> w', b', a cheap per-Plan-run
// node, so changed weights are always seen) and conv2d(x, w', b'). The input gradient follows:
// the batch norm's backward data (dy * s) is absorbed into the conv's backward data, which reads
// w' instead of w. When a ReLU is the only reader of the batch norm's output, the conv applies
// it too (ConvAttrs::relu; ReLU's backward reads the ReLU's output, which still exists).
//
// Attack and evaluation Plans run these convs hundreds of times per batch (PGD-50, AutoAttack),
// so removing the batch norm's two passes and the ReLU's pass over every activation is worth a
// rewrite. The result equals the unfused Plan up to rounding (tests/graph/test_eval_fusion.cpp).
//
// Only what is safe to fold is folded: the batch norm's parameters must be known before the conv
// runs (persistent, or computed earlier, like Sparse-CNN's masked gamma and beta), nothing
// but the batch norm (and its backward data) may read the conv's output, and no live node may
// take a gradient w.r.t. the conv's weights or bias or the batch norm's parameters (those
// gradients need the unfused values).
//
// Expert convs fold too: expert_conv -> channel_gate -> batch_norm [-> relu]. The channel gate
// multiplies by top1's straight-through gate, exactly 1 in forward, so it is dropped (with its
// backward-data twin) when its own gradient is not live, as in every attack Plan (the router
// input is detached). The expert weight's E banks of c filters each take the batch norm's c
// scales; the expert conv gains the folded bias [c] and the ReLU, which its kernels apply in
// the copy that scatters each expert's rows back.
#pragma once

#include <memory>
#include <vector>

#include "graph/graph.h"

namespace advmoe {

struct EvalFusion {
  std::unique_ptr<Graph> graph;  // the rewritten copy; null when nothing could be fused
  std::vector<int> nodes;        // live nodes of `graph` in run order
  int folded_batch_norms = 0;
  int fused_relus = 0;
};

// `live`: the Plan's nodes of `graph` in run order (compile/plan.cpp's live_nodes).
EvalFusion fuse_eval_batch_norms(const Graph& graph, const std::vector<int>& live);

}  // namespace advmoe
