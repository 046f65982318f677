// VGG-16 with batch norm, CIFAR variant (kuangliu/pytorch-cifar): thirteen 3x3 convs (with bias)
// each followed by BN and ReLU, five 2x2 max-pools, one linear classifier on the 512 features.
// Names follow the reference's nn.Sequential indices: features.0.weight, features.1.weight (BN),
// ..., classifier.weight.
#pragma once

#include "models/model.h"

namespace advmoe {

Val build_vgg16_bn(Model& model);

}  // namespace advmoe
