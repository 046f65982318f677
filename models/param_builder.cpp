// Named parameter creation with recorded initialization, and small layer helpers.
#include "models/param_builder.h"

#include <algorithm>
#include <cmath>

#include "ops/basic.h"
#include "ops/batch_norm.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include "ops/moe.h"
#include "ops/pooling.h"
#include "ops/sparse.h"
#include "runtime/error.h"

namespace advmoe {

int64_t Model::num_parameters() const {
  int64_t n = 0;
  for (ValueId v : graph->params()) n += graph->value(v).shape.numel();
  return n;
}

ParamBuilder ParamBuilder::scoped(const std::string& scope) const {
  return ParamBuilder(*model_, prefix_.empty() ? scope : prefix_ + "." + scope, group_);
}

ParamBuilder ParamBuilder::in_group(const std::string& group) const {
  return ParamBuilder(*model_, prefix_, group);
}

std::string ParamBuilder::full(const std::string& name) const {
  // The model's scope (the dual model's halves) goes in front of every name.
  return model_->scope + (prefix_.empty() ? name : prefix_ + "." + name);
}

namespace {
// A second forward pass through the same model (TRADES' adversarial branch) finds its parameters
// and buffers already there and shares them.
Val existing(Graph& g, const std::string& name, const Shape& shape, Role role) {
  ValueId v = g.find(name);
  ADVMOE_CHECK(g.value(v).role == role && g.value(v).shape == shape,
               "'" << name << "' exists as " << role_name(g.value(v).role) << " "
                   << g.value(v).shape << ", cannot reuse it as " << role_name(role) << " "
                   << shape);
  return {&g, v};
}
}  // namespace

Val ParamBuilder::make_param(const std::string& name, const Shape& shape, ParamInit init) const {
  Graph& g = *model_->graph;
  std::string n = full(name);
  if (g.has(n)) return existing(g, n, shape, Role::Param);
  model_->inits[n] = init;
  return {&g, g.param(n, shape, group_)};
}

Val ParamBuilder::conv_weight(const std::string& name, int64_t out, int64_t kernel, int64_t in,
                              int64_t fan_out_channels) const {
  // Kaiming normal, mode fan_out, ReLU gain (torchvision ResNet and the AdvMoE code).
  int64_t fan_out = (fan_out_channels > 0 ? fan_out_channels : out) * kernel * kernel;
  double stddev = std::sqrt(2.0 / static_cast<double>(fan_out));
  return make_param(name + ".weight", Shape{out, kernel, kernel, in},
                    {InitKind::KaimingNormalFanOut, stddev});
}

Val ParamBuilder::linear_weight(const std::string& name, int64_t out, int64_t in) const {
  return make_param(name + ".weight", Shape{out, in}, {InitKind::Normal, 0.01});
}

Val ParamBuilder::bias(const std::string& name, int64_t size) const {
  return make_param(name + ".bias", Shape{size}, {InitKind::Zeros, 0});
}

BatchNormParams ParamBuilder::batch_norm(const std::string& name, int64_t channels) const {
  Graph& g = *model_->graph;
  BatchNormParams p;
  p.attrs.synchronized = model_->config.sync_bn;
  p.weight = make_param(name + ".weight", Shape{channels}, {InitKind::Ones, 0});
  p.bias = make_param(name + ".bias", Shape{channels}, {InitKind::Zeros, 0});
  std::string mean = full(name + ".running_mean"), var = full(name + ".running_var");
  if (g.has(mean)) {
    p.running_mean = existing(g, mean, Shape{channels}, Role::Buffer);
    p.running_var = existing(g, var, Shape{channels}, Role::Buffer);
    return p;
  }
  p.running_mean = {&g, g.buffer(mean, Shape{channels})};
  p.running_var = {&g, g.buffer(var, Shape{channels})};
  model_->inits[mean] = {InitKind::Zeros, 0};
  model_->inits[var] = {InitKind::Ones, 0};
  return p;
}

Val ParamBuilder::constant_buffer(const std::string& name, int64_t size, InitKind init) const {
  Graph& g = *model_->graph;
  std::string n = full(name);
  if (g.has(n)) return existing(g, n, Shape{size}, Role::Buffer);
  model_->inits[n] = {init, 0};
  return {&g, g.buffer(n, Shape{size})};
}

Val ParamBuilder::zeros_buffer(const std::string& name, int64_t size) const {
  return constant_buffer(name, size, InitKind::Zeros);
}

namespace {
// "layer1.0.conv1.weight" -> "layer1.0.conv1": nodes are named after their module.
std::string module_of(Val param) {
  const std::string& name = param.info().name;
  return name.substr(0, name.rfind('.'));
}
}  // namespace

Val batch_norm(Val x, const BatchNormParams& p) {
  return batch_norm(x, p.weight, p.bias, p.running_mean, p.running_var, p.attrs,
                    module_of(p.weight));
}

Val sparse_weight(const ParamBuilder& p, Val w, bool classifier) {
  Model& m = p.model();
  const ModelConfig& c = m.config;
  if (c.variant != "sparse") return w;
  const bool structured = c.mask == "structured";
  if (classifier && structured) return w;
  const std::string module = module_of(w);
  Graph& g = *m.graph;
  std::string name = module + ".scores";
  Val scores;
  if (g.has(name)) {
    scores = existing(g, name, w.shape(), Role::Param);
  } else {
    scores = {&g, g.param(name, w.shape(), "scores")};
    m.inits[name] = {InitKind::ScaledFromWeight, 0, w.info().name};
  }
  TopkMask mask = topk_mask(scores, c.keep, structured, module + ".mask");
  // A second forward (TRADES' adversarial branch) recomputes the mask; the first is the record.
  bool recorded = false;
  for (const Model::MaskedLayer& l : m.masked) recorded = recorded || l.module == module;
  if (!recorded) m.masked.push_back({module, w, scores, mask.mask, mask.filter_mask});
  return mul(w, mask.mask, module + ".masked_weight");
}

namespace {
// Structured masks: the conv output `y` and its filter mask, for the BN that follows.
Val note_channel_mask(Val y, const ParamBuilder& p, Val w) {
  Model& m = p.model();
  if (m.config.variant == "sparse" && m.config.mask == "structured")
    for (const Model::MaskedLayer& l : m.masked)
      if (l.weight.id == w.id)
        m.channel_masks[y.id] = stop_gradient(l.filter_mask, l.module + ".channel_mask");
  return y;
}
}  // namespace

Val conv(Val x, const ParamBuilder& p, const std::string& name, int64_t out, int kernel, int stride,
         int padding, bool bias) {
  Val w = p.conv_weight(name, out, kernel, x.shape()[3]);
  Val used = sparse_weight(p, w, false);
  Val y = bias ? conv2d(x, used, p.bias(name, out), stride, padding, module_of(w))
               : conv2d(x, used, stride, padding, module_of(w));
  return note_channel_mask(y, p, w);
}

Val classifier(Val x, const ParamBuilder& p, const std::string& name, int64_t classes) {
  Val w = p.linear_weight(name, classes, x.shape()[1]);
  return linear(x, sparse_weight(p, w, true), p.bias(name, classes), name);
}

Val moe_conv(Val x, const ParamBuilder& p, const std::string& name, int64_t out, int kernel,
             int stride, int padding) {
  Model& m = p.model();
  if (m.config.variant != "moe") return conv(x, p, name, out, kernel, stride, padding);
  int experts = m.config.experts;
  Route route = m.global_route;
  Val w = p.conv_weight(name, experts * out, kernel, x.shape()[3], out);
  std::string module = module_of(w);
  auto given = m.route_override.find(module);
  if (m.forced_route.valid()) {
    route = {};
    route.index = m.forced_route;
  } else if (given != m.route_override.end()) {
    route = given->second;
  } else if (m.config.route_source == "input") {
    Graph& g = *m.graph;
    route = {};
    route.index = {&g, g.input("route/" + module, Shape{x.shape()[0]}, DType::I32)};
  } else if (m.config.routing == "layer") {
    // Per-layer router of the paper: global-average-pool of the layer input -> linear -> N logits.
    // The pooled features are detached: the straight-through gate gradient is meant to train the
    // router, and flowing on into the backbone it swamps the true gradient (SmallCNN MoE on
    // Fashion-MNIST stayed at 10% accuracy without this). The router-only attack of the dissection
    // turns it off (detach_router_input) to reach the image through the routers.
    ParamBuilder r = p.scoped(name).in_group("router");
    Val pooled = global_avg_pool(x, module + ".router.pool");
    if (m.config.detach_router_input) pooled = stop_gradient(pooled, module + ".router.detach");
    const bool standardized = m.config.router_input == "standardized";
    if (standardized) pooled = standardize(pooled, r, "router.norm", module + ".router.norm");
    route = router(pooled, r, "router", module + ".router", /*bias=*/!standardized);
  }
  m.routes.emplace_back(module, route.index);
  Val y = expert_conv(x, w, route.index, experts, stride, padding, false, module);
  return route.gate.valid() ? channel_gate(y, route.gate, module + ".gate") : y;
}

Val standardize(Val x, const ParamBuilder& p, const std::string& name, const std::string& node) {
  Graph& g = *p.model().graph;
  const int64_t n = x.shape()[0], c = x.shape()[1];
  Val mean = p.constant_buffer(name + ".running_mean", c, InitKind::Zeros);
  Val var = p.constant_buffer(name + ".running_var", c, InitKind::Ones);
  // BN on [N, 1, 1, C] with gamma 1 and beta 0: the per-channel standardization alone.
  BatchNormAttrs attrs;
  attrs.synchronized = p.model().config.sync_bn;
  Val y = batch_norm(reshape(x, Shape{n, 1, 1, c}, node + ".as_image"),
                     fill(g, Shape{c}, 1.0, node + ".one"), fill(g, Shape{c}, 0.0, node + ".zero"),
                     mean, var, attrs, node);
  return reshape(y, Shape{n, c}, node + ".flat");
}

Route router(Val x, const ParamBuilder& p, const std::string& name, const std::string& node,
             bool bias) {
  Model& m = p.model();
  const int64_t experts = m.config.experts;
  // The offset rides on the bias: the same logits as a separate add, without a broadcast op.
  Val offset = p.zeros_buffer(name + ".balance", experts);
  p.zeros_buffer(name + ".balance_train", experts);  // the balancer's training-mode offsets
  Val logits_bias = bias ? add(p.bias(name, experts), offset, node + ".offset_bias") : offset;
  Val logits = linear(x, p.linear_weight(name, experts, x.shape()[1]), logits_bias, node);
  Route route = top1(logits, node + ".route");
  m.routers.push_back({node, logits, route.index, offset});
  return route;
}

Val bn(Val x, const ParamBuilder& p, const std::string& name) {
  BatchNormParams params = p.batch_norm(name, x.shape()[-1]);
  const auto& masks = p.model().channel_masks;
  auto it = masks.find(x.id);
  if (it == masks.end()) return batch_norm(x, params);
  // A pruned filter's channel: gamma and beta masked too, so it leaves BN as exact zeros.
  const std::string module = module_of(params.weight);
  Val gamma = mul(params.weight, it->second, module + ".masked_weight");
  Val beta = mul(params.bias, it->second, module + ".masked_bias");
  return batch_norm(x, gamma, beta, params.running_mean, params.running_var, params.attrs, module);
}

Val conv_bn_relu(Val x, const ParamBuilder& p, const std::string& conv_name,
                 const std::string& bn_name, int64_t out, int kernel, int stride, int padding) {
  return relu(bn(conv(x, p, conv_name, out, kernel, stride, padding), p, bn_name));
}

int64_t ParamBuilder::width(int64_t channels) const {
  return std::max<int64_t>(1, std::lround(static_cast<double>(channels) * model_->config.width));
}

}  // namespace advmoe
