// The op table's test harness.
#include "ops/op_harness.h"

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "ops/basic.h"
#include "runtime/rng.h"

namespace advmoe::testing {

Built build(const OpCase& c, DType dtype) {
  Built b{std::make_unique<Graph>(dtype), kNoValue, {}};
  Graph& g = *b.graph;
  Val y = c.build(g);
  g.mark_output(y.id, "y");
  Val projection{&g, g.input("projection", y.shape())};
  Val loss = sum(y * projection);
  g.mark_loss(loss.id, "loss");
  b.loss = loss.id;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const ValueInfo& info = g.value(v);
    if ((info.role == Role::Input || info.role == Role::Param) && is_floating(info.dtype) &&
        info.name != "projection")
      b.targets.push_back(v);
  }
  if (!b.targets.empty()) autodiff(g, b.loss, b.targets);  // a non-differentiable op has none
  return b;
}

void fill_inputs(const Graph& g, Variables& vars) {
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const ValueInfo& info = g.value(v);
    if (info.role != Role::Input && info.role != Role::Param && info.role != Role::Buffer) continue;
    Tensor host = Tensor::zeros(info.shape, info.dtype);
    if (info.dtype == DType::I32) {
      // Labels in [0, 5); "targets" one class further, so a target never equals its label.
      const int shift = info.name.rfind("targets", 0) == 0 ? 1 : 0;
      for (int64_t i = 0; i < host.numel(); ++i)
        host.data<int32_t>()[i] = static_cast<int32_t>((i * 7 + 3 + shift) % 5);
    } else {
      double lo = -1, hi = 1;
      if (ends_with(info.name, "var")) lo = 0.5, hi = 1.5;     // variances
      if (ends_with(info.name, "_unit")) lo = 0, hi = 1;       // images in [0, 1]
      if (ends_with(info.name, "_step")) lo = 0.05, hi = 0.2;  // per-sample step sizes
      RandomStream(2024, stable_hash(info.name)).fill_uniform(host, lo, hi);
    }
    vars.set(info.name, host);
  }
}

std::string mode_name(Mode m) {
  return m == Mode::Train ? "train" : "eval";
}

std::vector<std::string> gradcheck_names() {
  std::vector<std::string> names;
  for (const OpCase& c : op_cases())
    if (c.gradcheck) names.push_back(c.name);
  return names;
}

std::vector<std::string> all_names() {
  std::vector<std::string> names;
  for (const OpCase& c : op_cases()) names.push_back(c.name);
  return names;
}

std::vector<std::string> cuda_names() {
  std::vector<std::string> names;
  for (const OpCase& c : op_cases())
    if (c.on_cuda) names.push_back(c.name);
  return names;
}

const OpCase& find_case(const std::string& name) {
  for (const OpCase& c : op_cases())
    if (c.name == name) return c;
  throw Error("no op case " + name);
}

std::map<std::string, Tensor> run_case(const OpCase& c, const std::string& backend_name, Mode mode,
                                       const BackendOptions& options) {
  Built b = build(c, DType::F32);
  auto backend = make_backend(backend_name, options);
  Variables vars(*backend);
  auto plan = compile(*b.graph, vars, {mode, {}});
  fill_inputs(*b.graph, vars);
  plan->run();
  std::map<std::string, Tensor> results;
  for (ValueId v = 0; v < b.graph->num_values(); ++v) {
    const ValueInfo& info = b.graph->value(v);
    if (info.role != Role::Output && info.role != Role::Loss && info.role != Role::Buffer) continue;
    const Tensor& value = vars.get(info.name);
    Tensor host = Tensor::zeros(value.shape(), value.dtype());
    backend->copy(host, value);
    results[info.name] = host;
  }
  return results;
}

}  // namespace advmoe::testing
