// Bias balancing of the routers between training steps, per BN mode (training/route_balance.h).
#include "training/route_balance.h"

#include "runtime/communicator.h"

#include <algorithm>

#include "runtime/error.h"
#include "training/evaluate.h"

namespace advmoe {

RouteBalancer::RouteBalancer(const Model& model, double rate)
    : rate_(rate), experts_(model.config.experts) {
  ADVMOE_CHECK(rate >= 0, "the balancing rate must be >= 0, got " << rate);
  if (rate == 0) return;
  const Graph& g = *model.graph;
  auto route_name = [&](const Model::Router& r) {
    ADVMOE_CHECK(g.value(r.index.id).role == Role::Output,
                 "router " << r.name << ": its route is not a plan output; cannot balance it");
    return g.value(r.index.id).name;
  };
  for (const Model::Router& r : model.routers) {
    if (!r.offset.valid()) continue;
    const std::string& eval = g.value(r.offset.id).name;
    offsets_.push_back({eval,
                        eval + "_train",
                        route_name(r),
                        {route_name(r)},
                        Tensor::zeros(Shape{experts_}, DType::F32)});
    ADVMOE_CHECK(g.has(offsets_.back().train),
                 "router " << r.name << " lacks the Buffer " << offsets_.back().train);
  }
  // The adversarial branch's routers share the offsets of the clean forward's.
  for (const Model::Router& r : model.branch_routers) {
    const std::string& eval = g.value(r.offset.id).name;
    auto it = std::find_if(offsets_.begin(), offsets_.end(),
                           [&](const Offset& o) { return o.eval == eval; });
    if (it != offsets_.end()) it->routes.push_back(route_name(r));
  }
  host_route_ = Tensor::zeros(Shape{model.config.batch}, DType::I32);
  host_offset_ = Tensor::zeros(Shape{experts_}, DType::F32);
}

void RouteBalancer::begin_step(Variables& variables) {
  if (!active()) return;
  Backend& backend = variables.backend();
  for (Offset& o : offsets_) {
    backend.copy(o.saved_eval, variables.get(o.eval));
    backend.copy(variables.get(o.eval), variables.get(o.train));
  }
}

void RouteBalancer::move(Variables& variables, const std::string& buffer,
                         const std::vector<int64_t>& counts, int64_t total) {
  Backend& backend = variables.backend();
  backend.copy(host_offset_, variables.get(buffer));
  float* offset = host_offset_.data<float>();
  // Data-parallel: every rank moves its offsets by the global batch's counts, so the offsets
  // stay identical on all ranks (and equal to one process's with the whole batch).
  std::vector<int64_t> global(counts);
  global.push_back(total);
  world().allreduce_sum(global.data(), static_cast<int64_t>(global.size()));
  total = global.back();
  // counts * E against the total (the share total / E) in integers: a tie moves nothing.
  for (int e = 0; e < experts_; ++e) {
    const int64_t load = global[static_cast<size_t>(e)] * experts_;
    offset[e] += static_cast<float>(load > total ? -rate_ : load < total ? rate_ : 0.0);
  }
  backend.copy(variables.get(buffer), host_offset_);
}

void RouteBalancer::end_step(Variables& variables, Plan& eval_plan, int64_t rows) {
  if (!active()) return;
  Backend& backend = variables.backend();
  // Training mode: the iteration's own routes, with the training offsets still in "<r>.balance".
  for (Offset& o : offsets_) {
    std::vector<int64_t> counts(static_cast<size_t>(experts_));
    for (const std::string& route : o.routes)
      count_route(variables, route, rows, host_route_, counts);
    move(variables, o.eval, counts, rows * static_cast<int64_t>(o.routes.size()));
    backend.copy(variables.get(o.train), variables.get(o.eval));
    backend.copy(variables.get(o.eval), o.saved_eval);
  }
  // Evaluation mode: the same images through the eval plan, clean then adversarial.
  std::vector<std::vector<int64_t>> counts(offsets_.size(),
                                           std::vector<int64_t>(static_cast<size_t>(experts_)));
  const bool adversarial = variables.has("adv_images");
  for (int pass = 0; pass < (adversarial ? 2 : 1); ++pass) {
    if (pass == 1) backend.copy(variables.get("images"), variables.get("adv_images"));
    eval_plan.run();
    for (size_t i = 0; i < offsets_.size(); ++i)
      count_route(variables, offsets_[i].eval_route, rows, host_route_, counts[i]);
  }
  for (size_t i = 0; i < offsets_.size(); ++i)
    move(variables, offsets_[i].eval, counts[i], rows * (adversarial ? 2 : 1));
}

}  // namespace advmoe
