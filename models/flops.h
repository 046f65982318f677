// Multiply-accumulates of one forward pass per sample, counting convolutions and linear layers
// (the convention behind the paper's GFLOPs table; 1 MAC = 2 FLOPs). An expert_conv counts one
// expert: the pathway a sample actually takes. Router layers are reported separately.
#pragma once

#include <cstdint>

#include "models/model.h"

namespace advmoe {

struct MacCount {
  int64_t pathway = 0;  // backbone and experts along one sample's route
  int64_t router = 0;   // parameters of group "router"
};

MacCount count_macs(const Model& model);

}  // namespace advmoe
