// SGD with momentum and weight decay, PyTorch semantics, as update nodes of the graph:
//   d = g + weight_decay * p;  buf = momentum * buf + d;  p -= lr * (nesterov ? d + momentum * buf
//   : buf)
// One sgd_update node per parameter (ops/optimizer.h) reads its gradient "grad/<param>", its
// momentum "momentum/<param>" (a State value, so checkpoints can save it) and the learning rate
// from a scalar Input; a Plan that targets the returned tokens runs the whole step.
#pragma once

#include <string>
#include <vector>

#include "compile/autodiff.h"

namespace advmoe {

struct SgdConfig {
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
};

struct SgdUpdate {
  std::string learning_rate;    // the scalar Input to set before each run
  std::vector<ValueId> tokens;  // one per parameter: add them to the Plan's targets
};

// Appends the update of `params` (their gradients in `grads`) reading the learning rate from a new
// Input named `learning_rate`.
SgdUpdate add_sgd_update(Graph& graph, const std::vector<ValueId>& params, const Gradients& grads,
                         const SgdConfig& config, const std::string& learning_rate);

}  // namespace advmoe
