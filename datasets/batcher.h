// Batches from a Dataset: a per-epoch permutation derived from (seed, epoch) with Philox, so a
// run's order is reproducible and independent of how many epochs ran before.
#pragma once

#include <cstdint>
#include <vector>

#include "datasets/dataset.h"

namespace advmoe {

// Fisher-Yates shuffle of 0..n-1 driven by the Philox stream (seed, epoch).
std::vector<int64_t> epoch_order(uint64_t seed, int64_t epoch, int64_t n);

// Copies examples order[first .. first + count) into images [B, H, W, C] and labels [B]
// (host tensors). Rows past `count` (a short last batch) are zero-filled with label 0; returns
// how many rows are real.
int64_t gather_batch(const Dataset& data, const std::vector<int64_t>& order, int64_t first,
                     Tensor& images, Tensor& labels);

}  // namespace advmoe
