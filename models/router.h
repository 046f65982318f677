// The global router of the public AdvMoE code: one small network on the input image whose top-1
// route drives every MoE layer. A CIFAR ResNet-20 (BasicBlocks [3, 3, 3], widths 16-32-64, 1x1
// conv shortcuts where the shape changes), global average pooling, a linear head to N logits.
// Its parameters are in group "router", named router.*.
#pragma once

#include "models/model.h"

namespace advmoe {

Route build_global_router(Model& model);

}  // namespace advmoe
