// The dual model: two scoped halves in one graph and their logit combination.
#include "models/dual_model.h"

#include <cmath>

#include "ops/basic.h"
#include "runtime/error.h"

namespace advmoe {

void check_alpha(double alpha) {
  ADVMOE_CHECK(std::isfinite(alpha) && alpha >= 0 && alpha <= 1,
               "the dual model's alpha must be in [0, 1], got " << alpha);
}

namespace {

// Builds one half on the model's images under `scope`; returns its logits.
Val build_half(Model& m, const ModelConfig& config, const std::string& scope) {
  m.config = config;
  m.scope = scope;
  m.global_route = Route{};
  Val logits = build_network(m, m.images);
  m.scope.clear();
  return logits;
}

}  // namespace

Model build_dual_model(const ModelConfig& standard_requested, const ModelConfig& robust_requested,
                       double alpha) {
  check_alpha(alpha);
  ModelConfig standard = resolve_model_config(standard_requested);
  ModelConfig robust = resolve_model_config(robust_requested);
  robust.batch = standard.batch;
  ADVMOE_CHECK(standard.image == robust.image,
               "the dual model's halves read different images: standard "
                   << standard.image << ", robust " << robust.image);
  ADVMOE_CHECK(standard.classes == robust.classes,
               "the dual model's halves have different class counts: standard "
                   << standard.classes << ", robust " << robust.classes);
  const bool standard_moe = standard.variant == "moe", robust_moe = robust.variant == "moe";
  ADVMOE_CHECK(!(standard_moe && robust_moe) || standard.experts == robust.experts,
               "the dual model's MoE halves have different expert counts: standard "
                   << standard.experts << ", robust " << robust.experts);
  for (const ModelConfig* c : {&standard, &robust})
    ADVMOE_CHECK(c->variant != "moe" || c->route_source == "router",
                 "the dual model's halves route with their own routers (route source '"
                     << c->route_source << "' is for single models)");
  Model m;
  m.graph = std::make_unique<Graph>(standard.dtype);
  Graph& g = *m.graph;
  const Shape& s = standard.image;
  ADVMOE_CHECK(s.rank() == 3, "model input must be [H, W, C], got " << s);
  m.images = {&g, g.input("images", Shape{standard.batch, s[0], s[1], s[2]})};
  m.labels = {&g, g.input("labels", Shape{standard.batch}, DType::I32)};
  auto dual = std::make_shared<Model::Dual>();
  dual->standard = standard;
  dual->robust = robust;
  dual->alpha = alpha;
  dual->standard_logits = build_half(m, standard, kStandardScope);
  dual->robust_logits = build_half(m, robust, kRobustScope);
  // alpha = 0 (1) gives the standard (robust) logits bit for bit: 1 * z + 0 * z' = z.
  m.logits = add(scale(dual->standard_logits, 1 - alpha, "dual.standard_share"),
                 scale(dual->robust_logits, alpha, "dual.robust_share"), "dual.logits");
  g.mark_output(m.logits.id, "logits");
  m.config = robust_moe || !standard_moe ? robust : standard;
  m.input = m.images;
  m.global_route = Route{};
  m.dual = dual;
  return m;
}

Forward apply_half(Model& dual, const std::string& scope, Val images, Val route) {
  ADVMOE_CHECK(dual.dual, "apply_half needs a dual model");
  ADVMOE_CHECK(scope == kStandardScope || scope == kRobustScope,
               "a dual model's halves are '" << kStandardScope << "' and '" << kRobustScope
                                             << "', not '" << scope << "'");
  // apply_model restores the model's input and routes; the half's config and scope are set and
  // restored here.
  const ModelConfig kept = dual.config;
  dual.config = scope == kStandardScope ? dual.dual->standard : dual.dual->robust;
  dual.scope = scope;
  Forward f = route.valid() ? apply_pathway(dual, images, route) : apply_model(dual, images);
  dual.scope.clear();
  dual.config = kept;
  return f;
}

}  // namespace advmoe
