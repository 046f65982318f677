// Sparse-CNN masks (HYDRA, Sehwag et al., NeurIPS 2020; docs/sparse.md):
//  - topk_mask(scores, keep, structured) -> {mask, filter_mask}: mask has the scores' shape
//    [O, ...] and is 1 on the kept items, 0 elsewhere; filter_mask [O] is 1 for each output
//    filter (row) that keeps any weight.
//    Unstructured: the kept items are the k = max(1, round(keep * numel)) weights of largest
//    |score|. Structured: the kept items are the k = max(1, round(keep * O)) filters of largest
//    L1 norm sum |score| over the filter, the mask 1 on all of a kept filter's weights.
//    Ties keep the lower (flat or filter) index, so the mask is one deterministic function of
//    the scores on every backend. Forward only in effect: the mask is piecewise constant, and
//    its gradient is HYDRA's straight-through estimator, d scores = d mask (identity); the
//    filter mask has no gradient.
// A masked layer computes with w * mask: the gradient of the scores is then d(w * mask) * w and
// that of the weights d(w * mask) * mask (mul's rule).
#pragma once

#include <string>

#include "graph/graph.h"

namespace advmoe {

struct TopkMask {
  Val mask;         // the scores' shape, 0/1
  Val filter_mask;  // [O], 0/1
};

TopkMask topk_mask(Val scores, double keep, bool structured, const std::string& name = "");

// The number of items (weights, or filters when structured) a mask of `keep` keeps out of `n`.
int64_t kept_items(double keep, int64_t n);

}  // namespace advmoe
