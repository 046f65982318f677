// MAC counting over a model's forward nodes.
#include "models/flops.h"

namespace advmoe {

MacCount count_macs(const Model& model) {
  const Graph& g = *model.graph;
  MacCount count;
  for (const Node& n : g.nodes()) {
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
