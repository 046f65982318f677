// The gradient all-reduce of data-parallel training as a graph node (docs/distributed.md):
// allreduce_mean(g_1..g_k) returns, per input, the mean of that tensor over the ranks of the
// process group (runtime/communicator.h). One node carries one bucket of gradients, so one
// collective moves many small tensors; training/level.cpp places the buckets between a level's
// gradients and its sgd_update nodes, in reverse parameter order as the backward produces them.
// In a single process the node is a copy. Not differentiable.
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace advmoe {

std::vector<Val> allreduce_mean(const std::vector<Val>& values, const std::string& name = "");

}  // namespace advmoe
