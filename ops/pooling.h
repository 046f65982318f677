// Pooling on NHWC: max, average (zero padding counted, PyTorch's count_include_pad default) and
// global average ([N, H, W, C] -> [N, C]). Output size (H + 2p - k) / s + 1, floor mode.
#pragma once

#include <string>

#include "graph/graph.h"

namespace advmoe {

Val max_pool(Val x, int kernel, int stride, int padding = 0, const std::string& name = "");
Val avg_pool(Val x, int kernel, int stride, int padding = 0, const std::string& name = "");
Val global_avg_pool(Val x, const std::string& name = "");

}  // namespace advmoe
