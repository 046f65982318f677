// Sparse-CNN helpers: score initialization, the default keep ratio, host masks, compact export.
#include "models/sparse_model.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "models/flops.h"
#include "models/registry.h"
#include "ops/op_registry.h"
#include "ops/sparse_select.h"
#include "runtime/error.h"

namespace advmoe {

// Computed in double, stored in the weight's float type (f64 models are gradient-checked too).
Tensor hydra_scores(const Tensor& weight) {
  Tensor s = Tensor::zeros(weight.shape(), weight.dtype());
  const int64_t n = weight.numel();
  double largest = 0;
  for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(weight.item(i)));
  if (largest == 0) return s;
  const double fan_in = static_cast<double>(n / weight.shape()[0]);
  const double scale = std::sqrt(6.0 / fan_in) / largest;
  Tensor scores = Tensor::zeros(weight.shape(), DType::F64);
  double* out = scores.data<double>();
  for (int64_t i = 0; i < n; ++i) out[i] = scale * weight.item(i);
  s.copy_from(scores);
  return s;
}

KeepDefault default_keep(const ModelConfig& sparse, int experts) {
  ModelConfig c = sparse;
  c.batch = 1;
  c.variant = "sparse";
  c.keep = 1;
  Model dense = build_model(c);
  c.variant = "moe";
  c.routing = "layer";
  c.experts = experts;
  Model moe = build_model(c);
  std::set<ValueId> expert_weights;
  for (const Node& n : moe.graph->nodes())
    if (n.op == Op::ExpertConv) expert_weights.insert(n.inputs[1]);
  KeepDefault k;
  for (const Model::MaskedLayer& l : dense.masked) {
    const std::string& name = l.weight.info().name;
    ADVMOE_CHECK(moe.graph->has(name), "the MoE model of " << c.arch << " has no '" << name << "'");
    ValueId v = moe.graph->find(name);
    int64_t numel = moe.graph->value(v).shape.numel();
    k.masked_weights += l.weight.shape().numel();
    k.pathway_weights += expert_weights.count(v) ? numel / experts : numel;
  }
  ModelConfig d = sparse;
  d.batch = 1;
  d.variant = "dense";
  k.dense_macs = count_macs(build_model(d)).pathway;
  k.pathway_macs = count_macs(moe).pathway;
  k.keep = sparse.mask == "structured"
               ? sparse.ratio
               : static_cast<double>(k.pathway_weights) / static_cast<double>(k.masked_weights);
  return k;
}

namespace {

const Tensor& tensor(const std::map<std::string, Tensor>& tensors, const std::string& name) {
  auto it = tensors.find(name);
  ADVMOE_CHECK(it != tensors.end(), "sparse model: no tensor '" << name << "' was given");
  return it->second;
}

}  // namespace

std::map<std::string, HostMask> host_masks(const Model& model,
                                           const std::map<std::string, Tensor>& tensors) {
  std::map<std::string, HostMask> out;
  const bool structured = model.config.mask == "structured";
  for (const Model::MaskedLayer& l : model.masked) {
    const Tensor& s = tensor(tensors, l.scores.info().name);
    const int64_t filters = s.shape()[0], row = s.numel() / filters;
    HostMask m{Tensor::zeros(s.shape(), DType::F32), Tensor::zeros(Shape{filters}, DType::F32)};
    topk_mask_host(s.data<float>(), filters, row, model.config.keep, structured,
                   m.mask.data<float>(), m.filter_mask.data<float>());
    out.emplace(l.module, m);
  }
  return out;
}

ModelConfig compact_config(const Model& sparse) {
  const ModelConfig& c = sparse.config;
  ADVMOE_CHECK(c.variant == "sparse" && c.mask == "structured",
               "compact export needs a structured sparse model; this one is "
                   << c.variant << (c.variant == "sparse" ? " with " + c.mask + " masks" : ""));
  ADVMOE_CHECK(c.width == 1, "compact export needs a sparse model of width 1, got " << c.width);
  ADVMOE_CHECK(c.arch == "smallcnn" || c.arch == "vgg16-bn",
               "compact export supports the chain networks smallcnn and vgg16-bn; in "
                   << c.arch << " residual adds or concatenations mix channels of different "
                   << "filters, so pruned filters do not remove whole channels");
  ModelConfig out = c;
  out.variant = "sdense";
  out.ratio = c.keep;
  out.width = c.keep;
  return out;
}

namespace {

// Rows `keep0` of dim 0 and entries `keep3` of the last dim (empty: all) of a host tensor.
Tensor slice_first_last(const Tensor& t, const std::vector<int64_t>& keep0,
                        const std::vector<int64_t>& keep_last) {
  Shape s = t.shape();
  const int64_t rows = s[0], last = s[-1], inner = t.numel() / rows;  // inner includes last
  const int64_t mid = s.rank() == 1 ? 1 : inner / last;
  std::vector<int64_t> r = keep0, l = keep_last;
  if (r.empty())
    for (int64_t i = 0; i < rows; ++i) r.push_back(i);
  if (s.rank() == 1) l = {0};
  if (l.empty())
    for (int64_t i = 0; i < last; ++i) l.push_back(i);
  std::vector<int64_t> dims = s.dims();
  dims.front() = static_cast<int64_t>(r.size());
  if (s.rank() > 1) dims.back() = static_cast<int64_t>(l.size());
  Tensor out = Tensor::zeros(Shape(dims), DType::F32);
  const float* src = t.data<float>();
  float* dst = out.data<float>();
  const int64_t src_last = s.rank() == 1 ? 1 : last;
  for (int64_t i : r)
    for (int64_t m = 0; m < mid; ++m)
      for (int64_t j : l) *dst++ = src[(i * mid + m) * src_last + j];
  return out;
}

std::vector<int64_t> kept_of(const Tensor& filter_mask) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < filter_mask.numel(); ++i)
    if (filter_mask.data<float>()[i] != 0) out.push_back(i);
  return out;
}

// The Param behind a weight input: itself, or the Param a mul (mask) multiplies.
ValueId param_behind(const Graph& g, ValueId v) {
  if (g.value(v).role == Role::Param || g.value(v).role == Role::Buffer) return v;
  for (const Node& n : g.nodes())
    if (n.outputs[0] == v && n.op == Op::Mul)
      for (ValueId in : n.inputs)
        if (g.value(in).role == Role::Param) return in;
  ADVMOE_FAIL("compact export: cannot find the parameter behind '" << g.value(v).name << "'");
}

}  // namespace

std::map<std::string, Tensor> compact_tensors(const Model& sparse,
                                              const std::map<std::string, Tensor>& tensors,
                                              const Model& compact) {
  const Graph& g = *sparse.graph;
  std::map<std::string, HostMask> masks = host_masks(sparse, tensors);
  std::map<ValueId, std::vector<int64_t>> kept;  // value -> its kept channels (absent: all)
  std::map<std::string, Tensor> out;
  auto channels = [&](ValueId v) {
    auto it = kept.find(v);
    return it == kept.end() ? std::vector<int64_t>{} : it->second;
  };
  auto take = [&](ValueId param, const std::vector<int64_t>& rows, const std::vector<int64_t>& last,
                  const Tensor* mask) {
    const std::string& name = g.value(param).name;
    Tensor t = tensor(tensors, name).clone();
    if (mask)
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] *= mask->data<float>()[i];
    out[name] = slice_first_last(t, rows, last);
  };
  // Follow the channels from the image to the logits through the forward nodes.
  for (const Node& n : g.nodes()) {
    if (n.inputs.empty()) continue;
    const ValueId x = n.inputs[0];
    switch (n.op) {
      case Op::Conv2d: {
        auto m = masks.find(n.name);
        ADVMOE_CHECK(m != masks.end(), "compact export: conv '" << n.name << "' has no mask");
        std::vector<int64_t> k = kept_of(m->second.filter_mask);
        take(param_behind(g, n.inputs[1]), k, channels(x), &m->second.mask);
        if (n.inputs.size() > 2) take(n.inputs[2], k, {}, nullptr);
        kept[n.outputs[0]] = k;
        break;
      }
      case Op::BatchNorm: {
        std::vector<int64_t> k = channels(x);
        for (size_t i = 1; i < 5; ++i) take(param_behind(g, n.inputs[i]), k, {}, nullptr);
        kept[n.outputs[0]] = k;
        break;
      }
      case Op::Linear:
        take(param_behind(g, n.inputs[1]), {}, channels(x), nullptr);
        if (n.inputs.size() > 2) take(n.inputs[2], {}, {}, nullptr);
        break;
      case Op::Relu:
      case Op::MaxPool:
      case Op::AvgPool:
      case Op::GlobalAvgPool:
        if (kept.count(x)) kept[n.outputs[0]] = kept[x];
        break;
      case Op::Reshape:  // flatten of [B, 1, 1, C]: the channels stay the features
        if (kept.count(x)) {
          const Shape& s = g.value(x).shape;
          ADVMOE_CHECK(s.rank() == 2 || (s[1] == 1 && s[2] == 1),
                       "compact export: '" << n.name << "' flattens " << s
                                           << "; only 1x1 maps flatten to channels");
          kept[n.outputs[0]] = kept[x];
        }
        break;
      default:
        for (ValueId in : n.inputs)
          ADVMOE_CHECK(!kept.count(in), "compact export: '" << n.name << "' (" << op_def(n.op).name
                                                            << ") mixes pruned channels");
    }
  }
  // Every compact tensor, with the shape the compact model needs.
  for (ValueId v = 0; v < compact.graph->num_values(); ++v) {
    const ValueInfo& info = compact.graph->value(v);
    if (info.role != Role::Param && info.role != Role::Buffer) continue;
    auto it = out.find(info.name);
    ADVMOE_CHECK(it != out.end(), "compact export: nothing computed for '" << info.name << "'");
    ADVMOE_CHECK(it->second.shape() == info.shape,
                 "compact export: '" << info.name << "' came out " << it->second.shape()
                                     << ", the compact model needs " << info.shape);
  }
  return out;
}

}  // namespace advmoe
