// Channel concatenation (DenseNet): inputs [..., C_i] with equal leading dims -> [..., sum C_i].
// Its gradient slices the output gradient back: channel_slice(dy, offset_i, C_i).
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace advmoe {

Val concat_channels(const std::vector<Val>& parts, const std::string& name = "");
Val channel_slice(Val x, int64_t offset, int64_t count, const std::string& name = "");

}  // namespace advmoe
