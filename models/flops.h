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

// Parameters of group "router" (trainable elements).
int64_t router_parameters(const Model& model);

// The S-Dense of `config`'s architecture whose per-sample pathway MACs come closest to
// `target_macs` (ratio searched in [1/256, 1]; channel counts round, so MACs step): a budget-fair
// baseline for an MoE whose pathway is not exactly S-Dense at r (a full-width stem, say).
struct MatchedSDense {
  double ratio = 1;
  int64_t macs = 0;
};
MatchedSDense matched_sdense(const ModelConfig& config, int64_t target_macs);

}  // namespace advmoe
