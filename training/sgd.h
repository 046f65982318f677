// SGD with momentum and weight decay, PyTorch semantics:
//   d = g + weight_decay * p;  buf = momentum * buf + d;  p -= lr * (nesterov ? d + momentum * buf
//   : buf)
// Momentum buffers live in Variables as "momentum/<param>" so checkpoints can save them.
#pragma once

#include <string>
#include <vector>

#include "graph/variables.h"

namespace advmoe {

struct SgdConfig {
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
};

class Sgd {
 public:
  // `params`: names of the parameters this optimizer owns (one parameter group).
  Sgd(Variables& variables, std::vector<std::string> params, SgdConfig config);
  // Applies one step with learning rate `lr`, reading gradients from "grad/<param>".
  void step(double lr);
  const std::vector<std::string>& params() const { return params_; }

 private:
  struct Slot {
    Tensor param, grad, momentum;
    Backend* param_backend;  // owns the three tensors' memory and runs the update
  };
  std::vector<std::string> params_;
  std::vector<Slot> slots_;
  SgdConfig config_;
};

}  // namespace advmoe
