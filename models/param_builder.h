// Creates named parameters with PyTorch-style dotted names and records their initialization,
// so model builders read as layer lists: conv_bn_relu(x, p.scoped("layer1"), ...).
#pragma once

#include <string>

#include "models/model.h"

namespace advmoe {

struct BatchNormParams {
  Val weight, bias, running_mean, running_var;  // PyTorch names gamma/beta weight/bias
  BatchNormAttrs attrs;                         // synchronized with ModelConfig::sync_bn
};

class ParamBuilder {
 public:
  ParamBuilder(Model& model, std::string prefix = "", std::string group = "backbone")
      : model_(&model), prefix_(std::move(prefix)), group_(std::move(group)) {}

  // A builder whose names start with "<prefix>.<scope>.".
  ParamBuilder scoped(const std::string& scope) const;
  // The same names, parameters in another group (routers live in group "router").
  ParamBuilder in_group(const std::string& group) const;
  Model& model() const { return *model_; }

  // Builders only add to the model, never change what the builder itself points to: const.
  // OHWI; Kaiming fan_out uses `fan_out_channels` (default: out), one expert's width for MoE.
  Val conv_weight(const std::string& name, int64_t out, int64_t kernel, int64_t in,
                  int64_t fan_out_channels = 0) const;
  Val linear_weight(const std::string& name, int64_t out, int64_t in) const;
  Val bias(const std::string& name, int64_t size) const;
  BatchNormParams batch_norm(const std::string& name, int64_t channels) const;
  // A Buffer of `size` zeros: model state that training updates outside autodiff.
  Val zeros_buffer(const std::string& name, int64_t size) const;
  // A Buffer of `size` elements initialized by `init` (Zeros or Ones).
  Val constant_buffer(const std::string& name, int64_t size, InitKind init) const;
  // The model's width multiplier applied to a nominal channel count (S-Dense: r < 1).
  int64_t width(int64_t channels) const;

 private:
  std::string full(const std::string& name) const;
  Val make_param(const std::string& name, const Shape& shape, ParamInit init) const;

  Model* model_;
  std::string prefix_;
  std::string group_;
};

// Layer helpers shared by model builders. Nodes are named after their module ("layer1.0.conv1").
Val batch_norm(Val x, const BatchNormParams& p);
// conv named `name` under p, no bias unless asked (BN follows almost every conv).
Val conv(Val x, const ParamBuilder& p, const std::string& name, int64_t out, int kernel, int stride,
         int padding, bool bias = false);
// sparse variant: w masked by HYDRA's top-k of its own scores (Param "<module>.scores", group
// "scores"): w * topk_mask(scores); other variants, and the classifier under structured masks: w.
Val sparse_weight(const ParamBuilder& p, Val w, bool classifier);
// The classifier: linear `name` (weight and bias) to `classes` outputs, masked when sparse.
Val classifier(Val x, const ParamBuilder& p, const std::string& name, int64_t classes);
// A conv of an MoE layer when the model is `moe` (expert_conv over N experts of `out` channels,
// gated by the layer's route: its own router or the global one), else a plain conv.
Val moe_conv(Val x, const ParamBuilder& p, const std::string& name, int64_t out, int kernel,
             int stride, int padding);
// A router's logits: linear(x) to `experts` outputs (weight and bias named `name`, group
// "router") plus the Buffer "<name>.balance", the loss-free balancing offset that
// training/route_balance.h adjusts between steps (zeros: no effect), with "<name>.balance_train"
// beside it (the offsets it routes with in training mode). Records the router in model.routers
// and returns its top-1 route.
// Without `bias` the offset is the logits' only bias.
Route router(Val x, const ParamBuilder& p, const std::string& name, const std::string& node,
             bool bias = true);
// x [N, C] standardized per channel like BN without affine (Buffers "<name>.running_mean" and
// "<name>.running_var" under p): batch statistics in training mode, running ones in evaluation.
Val standardize(Val x, const ParamBuilder& p, const std::string& name, const std::string& node);
// BN named `name` under p on x's channels.
Val bn(Val x, const ParamBuilder& p, const std::string& name);
Val conv_bn_relu(Val x, const ParamBuilder& p, const std::string& conv_name,
                 const std::string& bn_name, int64_t out, int kernel, int stride, int padding);

}  // namespace advmoe
