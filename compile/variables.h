// Variables: the persistent tensors that Plans bind by name (inputs, parameters, BN running
// stats, losses, gradients). Several Plans share one Variables, which is how a training program's
// forward, attack and update Plans all see the same weights.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/backend.h"
#include "runtime/tensor.h"

namespace advmoe {

class Variables {
 public:
  explicit Variables(Backend& backend) : backend_(&backend) {}

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

 private:
  Backend* backend_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace advmoe
