// The small CNN for 28x28 data: four conv-BN-ReLU stages of widths 32-64-128-256 (times the
// width multiplier), 2x2 max-pooling after the first three, global average pooling, linear head.
#pragma once

#include "models/model.h"

namespace advmoe {

// Builds the network on model.images and returns the logits.
Val build_smallcnn(Model& model);

}  // namespace advmoe
