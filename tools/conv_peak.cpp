// measure_conv_peak: a oneDNN micro-benchmark of a model's conv shapes, run once per bench.
#include "tools/conv_peak.h"

#include <chrono>
#include <map>
#include <tuple>

#include "backends/cpu/conv_primitives.h"
#include "backends/cpu/onednn_backend.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

using namespace dnnl;

auto key(const ConvGeometry& c) {
  return std::make_tuple(c.n, c.h, c.w, c.c, c.o, c.kh, c.kw, c.stride, c.pad);
}

// Seconds per forward run of one shape, after a warm-up run.
double time_forward(const ConvGeometry& geometry, OnednnBackend& backend) {
  const engine& e = backend.engine();
  auto pd =
      conv_forward_pd(geometry, false, e, prop_kind::forward_inference, backend.compute_type());
  memory src(pd.src_desc(), e), weights(pd.weights_desc(), e), dst(pd.dst_desc(), e),
      scratch(pd.scratchpad_desc(), e);
  // Small finite values everywhere (uninitialized memory may hold NaNs or denormals).
  for (memory* m : {&src, &weights})
    std::fill_n(static_cast<unsigned char*>(m->get_data_handle()), m->get_desc().get_size(), 0x3c);
  convolution_forward conv(pd);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},
                                       {DNNL_ARG_WEIGHTS, weights},
                                       {DNNL_ARG_DST, dst},
                                       {DNNL_ARG_SCRATCHPAD, scratch}};
  stream& s = backend.stream();
  conv.execute(s, args);
  s.wait();
  const int runs = 3;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) conv.execute(s, args);
  s.wait();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / runs;
}

}  // namespace

ConvPeak measure_conv_peak(const Graph& g, Backend& backend) {
  ConvPeak peak;
  auto* onednn = dynamic_cast<OnednnBackend*>(&backend);
  if (!onednn) return peak;
  // Distinct shapes and how often each occurs in one forward pass.
  std::map<decltype(key(ConvGeometry{})), std::pair<ConvGeometry, int>> shapes;
  for (const Node& n : g.nodes()) {
    if (n.op != Op::Conv2d && n.op != Op::ExpertConv) continue;
    const Shape &x = g.value(n.inputs[0]).shape, &w = g.value(n.inputs[1]).shape;
    ConvGeometry c{};
    int runs = 1;  // convolutions of this shape per forward pass of the node
    if (n.op == Op::Conv2d) {
      c = ConvGeometry::make(x, w, std::get<ConvAttrs>(n.attrs));
    } else {
      const auto& a = std::get<ExpertConvAttrs>(n.attrs);
      c = ExpertConvGeometry::make(x, w, a).conv;
      if (!a.dense) {
        c.n = (c.n + a.experts - 1) / a.experts;
        runs = a.experts;
      }
    }
    auto [it, added] = shapes.try_emplace(key(c), c, 0);
    it->second.second += runs;
  }
  for (const auto& [k, entry] : shapes) {
    const auto& [c, count] = entry;
    double macs = static_cast<double>(c.n) * c.ho * c.wo * c.o * c.kh * c.kw * c.c;
    peak.gflop += count * 2 * macs / 1e9;
    peak.seconds += count * time_forward(c, *onednn);
  }
  peak.shapes = static_cast<int>(shapes.size());
  peak.type = onednn->compute_type() == memory::data_type::bf16 ? "bf16" : "f32";
  return peak;
}

}  // namespace advmoe
