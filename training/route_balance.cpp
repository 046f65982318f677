// Bias balancing of the routers between training steps (training/route_balance.h).
#include "training/route_balance.h"

#include <algorithm>

#include "runtime/error.h"

namespace advmoe {

RouteBalancer::RouteBalancer(const Model& model, double rate)
    : rate_(rate), experts_(model.config.experts) {
  ADVMOE_CHECK(rate >= 0, "the balancing rate must be >= 0, got " << rate);
  if (rate == 0) return;
  const Graph& g = *model.graph;
  std::vector<Model::Router> routers = model.routers;
  routers.insert(routers.end(), model.branch_routers.begin(), model.branch_routers.end());
  for (const Model::Router& r : routers) {
    if (!r.offset.valid()) continue;
    ADVMOE_CHECK(g.value(r.index.id).role == Role::Output,
                 "router " << r.name << ": its route is not a plan output; cannot balance it");
    const std::string& name = g.value(r.offset.id).name;
    auto same = [&](const Offset& o) { return o.name == name; };
    auto it = std::find_if(offsets_.begin(), offsets_.end(), same);
    if (it == offsets_.end()) it = offsets_.insert(offsets_.end(), Offset{name, {}});
    it->routes.push_back(g.value(r.index.id).name);
  }
  host_route_ = Tensor::zeros(Shape{model.config.batch}, DType::I32);
  host_offset_ = Tensor::zeros(Shape{experts_}, DType::F32);
}

void RouteBalancer::update(Variables& variables, int64_t rows) {
  if (!active()) return;
  Backend& backend = variables.backend();
  for (const Offset& o : offsets_) {
    // The step's load of each expert over every forward that routes through this offset.
    std::vector<int64_t> counts(static_cast<size_t>(experts_));
    for (const std::string& name : o.routes) {
      backend.copy(host_route_, variables.get(name));
      const int32_t* route = host_route_.data<int32_t>();
      for (int64_t n = 0; n < rows; ++n) ++counts[static_cast<size_t>(route[n])];
    }
    const int64_t total = rows * static_cast<int64_t>(o.routes.size());
    backend.copy(host_offset_, variables.get(o.name));
    float* offset = host_offset_.data<float>();
    // counts * E against the total (the share total / E) in integers: a tie moves nothing.
    for (int e = 0; e < experts_; ++e) {
      const int64_t load = counts[static_cast<size_t>(e)] * experts_;
      offset[e] += static_cast<float>(load > total ? -rate_ : load < total ? rate_ : 0.0);
    }
    backend.copy(variables.get(o.name), host_offset_);
  }
}

}  // namespace advmoe
