// Named parameter creation with recorded initialization, and small layer helpers.
#include "models/param_builder.h"

#include <cmath>

#include "ops/basic.h"
#include "ops/batch_norm.h"
#include "ops/conv2d.h"

namespace advmoe {

int64_t Model::num_parameters() const {
  int64_t n = 0;
  for (ValueId v : graph->params()) n += graph->value(v).shape.numel();
  return n;
}

ParamBuilder ParamBuilder::scoped(const std::string& scope) const {
  return ParamBuilder(*model_, full(scope), group_);
}

std::string ParamBuilder::full(const std::string& name) const {
  return prefix_.empty() ? name : prefix_ + "." + name;
}

Val ParamBuilder::make_param(const std::string& name, const Shape& shape, ParamInit init) {
  Graph& g = *model_->graph;
  std::string n = full(name);
  model_->inits[n] = init;
  return {&g, g.param(n, shape, group_)};
}

Val ParamBuilder::conv_weight(const std::string& name, int64_t out, int64_t kernel, int64_t in) {
  // Kaiming normal, mode fan_out, ReLU gain (torchvision ResNet and the AdvMoE code).
  double stddev = std::sqrt(2.0 / static_cast<double>(out * kernel * kernel));
  return make_param(name + ".weight", Shape{out, kernel, kernel, in},
                    {InitKind::KaimingNormalFanOut, stddev});
}

Val ParamBuilder::linear_weight(const std::string& name, int64_t out, int64_t in) {
  return make_param(name + ".weight", Shape{out, in}, {InitKind::Normal, 0.01});
}

Val ParamBuilder::bias(const std::string& name, int64_t size) {
  return make_param(name + ".bias", Shape{size}, {InitKind::Zeros, 0});
}

BatchNormParams ParamBuilder::batch_norm(const std::string& name, int64_t channels) {
  Graph& g = *model_->graph;
  BatchNormParams p;
  p.weight = make_param(name + ".weight", Shape{channels}, {InitKind::Ones, 0});
  p.bias = make_param(name + ".bias", Shape{channels}, {InitKind::Zeros, 0});
  std::string mean = full(name + ".running_mean"), var = full(name + ".running_var");
  p.running_mean = {&g, g.buffer(mean, Shape{channels})};
  p.running_var = {&g, g.buffer(var, Shape{channels})};
  model_->inits[mean] = {InitKind::Zeros, 0};
  model_->inits[var] = {InitKind::Ones, 0};
  return p;
}

namespace {
// "layer1.0.conv1.weight" -> "layer1.0.conv1": nodes are named after their module.
std::string module_of(Val param) {
  const std::string& name = param.info().name;
  return name.substr(0, name.rfind('.'));
}
}  // namespace

Val batch_norm(Val x, const BatchNormParams& p) {
  return batch_norm(x, p.weight, p.bias, p.running_mean, p.running_var, BatchNormAttrs{},
                    module_of(p.weight));
}

Val conv_bn_relu(Val x, const ParamBuilder& p, const std::string& conv, const std::string& bn,
                 int64_t out, int kernel, int stride, int padding) {
  ParamBuilder params = p;
  Val w = params.conv_weight(conv, out, kernel, x.shape()[3]);
  Val y = conv2d(x, w, stride, padding, module_of(w));
  return relu(batch_norm(y, params.batch_norm(bn, out)));
}

}  // namespace advmoe
