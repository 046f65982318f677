// DenseNet-BC (Huang et al., 2017) for CIFAR-sized inputs, as in andreasveit/densenet-pytorch:
// growth k, (depth - 4) / 6 bottleneck layers per block (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv
// to k, concatenated), transitions BN-ReLU-1x1 conv (compression 0.5) + 2x2 average pool, stem
// 3x3 conv to 2k. Names: conv1.weight, block1.layer.0.bn1.weight, trans1.conv1.weight, bn1, fc.
#pragma once

#include "models/model.h"

namespace advmoe {

Val build_densenet_bc(Model& model, int depth, int growth = 12);

}  // namespace advmoe
