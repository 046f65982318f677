// WRN-28-10 (Zagoruyko & Komodakis, 2016) as in the widely used PyTorch implementation
// (xternalz/WideResNet-pytorch): pre-activation BasicBlocks, 4 per group, widths 16-160-320-640,
// 1x1 convShortcut when the width changes, no dropout. Names: block1.layer.0.bn1.weight, ...
#pragma once

#include "models/model.h"

namespace advmoe {

Val build_wide_resnet(Model& model, int depth = 28, int widen = 10);

}  // namespace advmoe
