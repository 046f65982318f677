// Per-channel data movement on the last axis:
//  - concat_channels (DenseNet): inputs [..., C_i] with equal leading dims -> [..., sum C_i];
//    its gradient slices the output gradient back: channel_slice(dy, offset_i, C_i);
//  - channel_affine: y = x * scale[c] + shift[c] with constant scale/shift (input normalization
//    (x - mean) / std inside the model); its gradient is channel_affine(dy, scale, 0).
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace advmoe {

Val concat_channels(const std::vector<Val>& parts, const std::string& name = "");
Val channel_slice(Val x, int64_t offset, int64_t count, const std::string& name = "");
Val channel_affine(Val x, std::vector<double> scale, std::vector<double> shift,
                   const std::string& name = "");

}  // namespace advmoe
