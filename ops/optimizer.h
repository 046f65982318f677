// The optimizer update as a graph node, so a training level is one Plan (forward, its group's
// gradients, the update) and every state that changes on the device changes inside a node:
//   d = g + weight_decay * p;  m = momentum * m + d;  p -= lr * (nesterov ? d + momentum * m : m)
// (PyTorch's SGD). The node writes the parameter and its momentum buffer in place; `lr` is a
// scalar input, so one compiled Plan follows any schedule. Its output is a scalar token (the
// learning rate it applied) that a Plan's targets name to include the update.
#pragma once

#include <string>

#include "graph/attrs.h"
#include "graph/graph.h"

namespace advmoe {

Val sgd_update(Val param, Val grad, Val momentum, Val lr, const SgdAttrs& attrs,
               const std::string& name = "");

}  // namespace advmoe
