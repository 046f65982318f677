// Variables: the persistent tensors that Plans bind by name (inputs, parameters, BN running
// stats, momenta, losses, gradients). Several Plans share one Variables, which is how a training
// program's forward, attack and update Plans all see the same weights; they also share its
// scratch arena (compile/arena.h).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compile/arena.h"
#include "runtime/backend.h"
#include "runtime/tensor.h"

namespace advmoe {

class Variables {
 public:
  explicit Variables(Backend& backend)
      : backend_(&backend), arena_(std::make_shared<SharedArena>(backend)) {}

  Backend& backend() const { return *backend_; }
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  // Throws naming the variable when absent.
  const Tensor& get(const std::string& name) const;
  // Returns the variable, creating it zero-filled on the backend when absent; throws when it
  // exists with another shape or dtype.
  const Tensor& ensure(const std::string& name, const Shape& shape, DType dtype);
  // Replaces (or creates) a variable with a copy of host/device tensor `value`.
  void set(const std::string& name, const Tensor& value);
  std::vector<std::string> names() const;
  // The intermediates and scratchpad of every Plan compiled over these variables.
  const std::shared_ptr<SharedArena>& arena() const { return arena_; }

 private:
  Backend* backend_;
  std::shared_ptr<SharedArena> arena_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace advmoe
