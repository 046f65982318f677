// Creates named parameters with PyTorch-style dotted names and records their initialization,
// so model builders read as layer lists: conv_bn_relu(x, p.scoped("layer1"), ...).
#pragma once

#include <string>

#include "models/model.h"

namespace advmoe {

struct BatchNormParams {
  Val weight, bias, running_mean, running_var;  // PyTorch names gamma/beta weight/bias
};

class ParamBuilder {
 public:
  ParamBuilder(Model& model, std::string prefix = "", std::string group = "backbone")
      : model_(&model), prefix_(std::move(prefix)), group_(std::move(group)) {}

  // A builder whose names start with "<prefix>.<scope>.".
  ParamBuilder scoped(const std::string& scope) const;

  Val conv_weight(const std::string& name, int64_t out, int64_t kernel, int64_t in);  // OHWI
  Val linear_weight(const std::string& name, int64_t out, int64_t in);
  Val bias(const std::string& name, int64_t size);
  BatchNormParams batch_norm(const std::string& name, int64_t channels);

 private:
  std::string full(const std::string& name) const;
  Val make_param(const std::string& name, const Shape& shape, ParamInit init);

  Model* model_;
  std::string prefix_;
  std::string group_;
};

// Layer helpers shared by model builders.
Val batch_norm(Val x, const BatchNormParams& p);
Val conv_bn_relu(Val x, const ParamBuilder& p, const std::string& conv, const std::string& bn,
                 int64_t out, int kernel, int stride, int padding);

}  // namespace advmoe
