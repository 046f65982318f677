// ResNet-18 with BasicBlocks [2, 2, 2, 2] of widths 64-128-256-512 (times the width multiplier).
// CIFAR stem: 3x3 conv, no max-pool (kuangliu/pytorch-cifar, the AdvMoE code's base);
// ImageNet stem: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool (torchvision). Parameter names follow
// those references: layer1.0.conv1.weight, layer2.0.shortcut.0.weight / downsample.0.weight.
#pragma once

#include "models/model.h"

namespace advmoe {

Val build_resnet18(Model& model);

}  // namespace advmoe
