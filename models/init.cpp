// Parameter initialization from the run's seed.
#include "models/registry.h"
#include "models/sparse_model.h"
#include "runtime/error.h"
#include "runtime/rng.h"

namespace advmoe {

void initialize_parameters(const Model& model, Variables& variables, uint64_t seed) {
  const Graph& g = *model.graph;
  std::map<std::string, Tensor> initialized;  // for the inits that derive from another tensor
  std::vector<const ValueInfo*> derived;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const ValueInfo& info = g.value(v);
    if (info.role != Role::Param && info.role != Role::Buffer) continue;
    auto it = model.inits.find(info.name);
    ADVMOE_CHECK(it != model.inits.end(), "no initialization recorded for '" << info.name << "'");
    Tensor host = Tensor::zeros(info.shape, info.dtype);
    RandomStream stream(seed, stable_hash(info.name));
    switch (it->second.kind) {
      case InitKind::KaimingNormalFanOut:
      case InitKind::Normal:
        stream.fill_normal(host, 0.0, it->second.stddev);
        break;
      case InitKind::Zeros:
        break;
      case InitKind::Ones:
        host.fill(1.0);
        break;
      case InitKind::ScaledFromWeight:
        derived.push_back(&info);
        continue;
    }
    variables.set(info.name, host);
    initialized.emplace(info.name, host);
  }
  for (const ValueInfo* info : derived) {
    const std::string& source = model.inits.at(info->name).source;
    auto it = initialized.find(source);
    ADVMOE_CHECK(it != initialized.end(),
                 "'" << info->name << "' derives from '" << source << "', which has no value");
    variables.set(info->name, hydra_scores(it->second));
  }
}

void copy_parameters_and_buffers(const Model& model, const Variables& from, Variables& to,
                                 const std::string& to_prefix) {
  const Graph& g = *model.graph;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const ValueInfo& info = g.value(v);
    if (info.role == Role::Param || info.role == Role::Buffer)
      to.set(to_prefix + info.name, from.get(info.name));
  }
}

}  // namespace advmoe
