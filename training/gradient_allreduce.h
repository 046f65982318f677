// Data-parallel gradients (docs/distributed.md): the mean of each gradient over the ranks of the
// process group, as allreduce_mean nodes (ops/collective.h) between a level's gradients and its
// SGD updates. Gradients are grouped into buckets of at most `bucket_bytes`, in reverse
// parameter order (the order the backward pass produces them), as PyTorch's DDP does, so one
// collective moves many small tensors.
#pragma once

#include <cstdint>
#include <vector>

#include "compile/autodiff.h"

namespace advmoe {

constexpr int64_t kDefaultBucketBytes = 25 << 20;  // DDP's default

// Returns the gradients the update should read: `grads` itself in a process no launcher started
// (runtime/communicator.h `distributed`), else the
// averaged values (named "<level>.allreduce.<k>" per bucket).
Gradients average_over_ranks(Graph& graph, const std::vector<ValueId>& params,
                             const Gradients& grads, const std::string& level,
                             int64_t bucket_bytes = kDefaultBucketBytes);

}  // namespace advmoe
