// MAC counting over a model's forward nodes.
#include "models/flops.h"

#include <cstdlib>

#include "models/registry.h"

namespace advmoe {

int64_t router_parameters(const Model& model) {
  int64_t n = 0;
  for (ValueId v : model.graph->params("router")) n += model.graph->value(v).shape.numel();
  return n;
}

MatchedSDense matched_sdense(const ModelConfig& config, int64_t target_macs) {
  auto at = [&](double ratio) {
    ModelConfig c = config;
    c.variant = "sdense";
    c.ratio = ratio;
    c.batch = 1;
    return MatchedSDense{ratio, count_macs(build_model(c)).pathway};
  };
  // MACs grow with the ratio: bisect for the first ratio reaching the target, then take it or
  // the one just below, whichever is closer.
  MatchedSDense same = at(config.ratio);  // S-Dense at the MoE's own ratio, when it is exact
  if (same.macs == target_macs) return same;
  double lo = 1.0 / 256, hi = 1;
  if (at(lo).macs >= target_macs) return at(lo);
  for (int i = 0; i < 30; ++i) {
    double mid = (lo + hi) / 2;
    (at(mid).macs >= target_macs ? hi : lo) = mid;
  }
  MatchedSDense above = at(hi), below = at(lo);
  return std::llabs(above.macs - target_macs) <= std::llabs(target_macs - below.macs) ? above
                                                                                      : below;
}

MacCount count_macs(const Model& model) {
  const Graph& g = *model.graph;
  MacCount count;
  for (const Node& n : g.nodes()) {
    // Only forward convolutions and linear layers count (a trained graph also holds nodes
    // without outputs, such as in-place updates).
    if (n.op != Op::Conv2d && n.op != Op::ExpertConv && n.op != Op::Linear) continue;
    int64_t macs = 0;
    const Shape& out = g.value(n.outputs[0]).shape;
    int64_t per_sample_out = out.numel() / out[0];
    if (n.op == Op::Conv2d || n.op == Op::ExpertConv) {
      const Shape& w = g.value(n.inputs[1]).shape;  // [O, kh, kw, C]: one output needs kh*kw*C
      macs = per_sample_out * w[1] * w[2] * w[3];
    } else if (n.op == Op::Linear) {
      macs = per_sample_out * g.value(n.inputs[1]).shape[1];
    } else {
      continue;
    }
    (g.value(n.inputs[1]).group == "router" ? count.router : count.pathway) += macs;
  }
  return count;
}

}  // namespace advmoe
