// JTDMoE (Zhang et al., ICML 2025): joint training of the dual model F = (1 - alpha) F_std +
// alpha F_rob (models/dual_model.h). Each iteration, on one batch:
//  (a) the robust MoE, the standard one frozen: CE(F_rob(x'), y) + beta * (1/B) * sum over every
//      expert e of KL(p_e(x) || p_e(x'_e)), x' a PGD example against F_rob, x'_e one against the
//      robust MoE's pathway e (every MoE layer on expert e) alone;
//  (b) the standard MoE, the robust one frozen: CE(F(x), y) on the clean batch, F_rob's logits
//      computed first by an eval-mode forward (a frozen model: its BN statistics do not move)
//      and fed in as an input, so step (b) leaves every robust tensor bit for bit as it was.
// The epoch loop scores step (b)'s dual logits; the robust half's routes are those of the
// eval-mode forward. The iteration reports step (a)'s loss.
#include "models/dual_model.h"
#include "ops/basic.h"
#include "ops/losses.h"
#include "training/evaluate.h"
#include "training/methods/methods.h"

namespace advmoe {

namespace {

// The parameters of the half `scope`, in creation order.
std::vector<ValueId> params_of(const Graph& g, const std::string& scope) {
  std::vector<ValueId> out;
  for (ValueId p : g.params())
    if (g.value(p).name.rfind(scope, 0) == 0) out.push_back(p);
  return out;
}

}  // namespace

JtdmoeTraining::JtdmoeTraining(Model& model, Variables& variables, const MethodConfig& config)
    : variables_(variables) {
  ADVMOE_CHECK(model.dual, "jtdmoe trains a dual model (models/dual_model.h)");
  const ModelConfig& robust = model.dual->robust;
  ADVMOE_CHECK(robust.variant == "moe" && robust.routing != "fixed",
               "jtdmoe robustifies the robust half's experts: it must be an MoE with routers");
  ADVMOE_CHECK(config.train_groups.empty(),
               "jtdmoe trains the two halves in turn; choosing the trained groups is for "
               "standard, pgd-at and trades");
  Graph& g = *model.graph;
  const int64_t b = model.images.shape()[0];
  const double alpha = model.dual->alpha;

  // (a) The robust half on its own adversarial examples, and each of its pathways.
  Val adv_images{&g, g.input("adv_images", model.images.shape())};
  Forward adversarial = apply_half(model, kRobustScope, adv_images);
  add_branch_routers(model, adversarial.routers);
  Val ce_adversarial =
      softmax_cross_entropy(adversarial.logits, model.labels, "jtdmoe.ce_robust_adversarial");
  g.mark_loss(ce_adversarial.id, "jtdmoe.ce_robust_adversarial");
  std::vector<Val> kl_terms;
  std::vector<std::pair<ValueId, ValueId>> pathway_objectives;  // (CE, attacked input) per expert
  for (int e = 0; e < robust.experts; ++e) {
    const std::string id = std::to_string(e);
    Val route{&g, g.input("jtdmoe.pathway_route/" + id, Shape{b}, DType::I32)};
    Val pathway_adv{&g, g.input("jtdmoe.pathway_adv_images/" + id, model.images.shape())};
    Val clean = apply_half(model, kRobustScope, model.images, route).logits;
    Val attacked = apply_half(model, kRobustScope, pathway_adv, route).logits;
    kl_terms.push_back(kl_div(log_softmax(clean), log_softmax(attacked), "jtdmoe.kl/" + id));
    Val ce = softmax_cross_entropy(attacked, model.labels, "jtdmoe.ce_pathway/" + id);
    g.mark_loss(ce.id, "jtdmoe.ce_pathway/" + id);
    pathway_objectives.emplace_back(ce.id, pathway_adv.id);
    Tensor constant = Tensor::zeros(Shape{b}, DType::I32);
    for (int64_t s = 0; s < b; ++s) constant.data<int32_t>()[s] = e;
    variables.set("jtdmoe.pathway_route/" + id, constant);
    pathway_inputs_.push_back("jtdmoe.pathway_adv_images/" + id);
  }
  Val robust_loss = ce_adversarial + scale(add_n(kl_terms, "jtdmoe.kl_sum"), config.beta);
  g.mark_loss(robust_loss.id, "jtdmoe.robust_loss");

  // (b) The standard half through the dual output, the robust logits fed in.
  Val frozen = stop_gradient(model.dual->robust_logits, "jtdmoe.robust_logits_eval");
  g.mark_output(frozen.id, "jtdmoe.robust_logits_eval");
  Val fed{&g, g.input("jtdmoe.robust_clean_logits", model.logits.shape())};
  Val dual_logits = add(scale(model.dual->standard_logits, 1 - alpha, "jtdmoe.standard_share"),
                        scale(fed, alpha, "jtdmoe.robust_share"), "jtdmoe.dual_train_logits");
  g.mark_output(dual_logits.id, "jtdmoe.dual_train_logits");
  Val standard_loss = softmax_cross_entropy(dual_logits, model.labels, "jtdmoe.standard_loss");
  g.mark_loss(standard_loss.id, "jtdmoe.standard_loss");

  std::vector<std::string> routes = mark_route_outputs(model);
  CompileOptions frozen_forward{Mode::Eval, {frozen.id}, {}};
  std::vector<ValueId> standard_reported{dual_logits.id};
  for (const std::string& route : routes) {
    const bool of_robust = route.rfind("route/" + kRobustScope, 0) == 0;
    (of_robust ? frozen_forward.targets : standard_reported).push_back(g.find(route));
  }
  attack_ = std::make_unique<PgdAttack>(g, variables, ce_adversarial.id, adv_images.id,
                                        training_attack(config, PgdStart::Uniform));
  for (const auto& [loss, input] : pathway_objectives)
    pathway_attacks_.push_back(std::make_unique<PgdAttack>(
        g, variables, loss, input, training_attack(config, PgdStart::Uniform)));
  robust_.emplace(g, variables, "robust", robust_loss.id, params_of(g, kRobustScope),
                  std::vector<ValueId>{}, config.sgd);
  frozen_robust_ = compile(g, variables, frozen_forward);
  standard_.emplace(g, variables, "standard", standard_loss.id, params_of(g, kStandardScope),
                    standard_reported, config.sgd);
}

double JtdmoeTraining::robust_step(uint64_t key, double lr) {
  attack_->run(variables_.get("images"), variables_.get("adv_images"), key);
  for (size_t e = 0; e < pathway_attacks_.size(); ++e)
    pathway_attacks_[e]->run(variables_.get("images"), variables_.get(pathway_inputs_[e]), key);
  return robust_->step(lr);
}

double JtdmoeTraining::standard_step(double lr) {
  frozen_robust_->run();
  Backend& backend = variables_.backend();
  backend.copy(variables_.get("jtdmoe.robust_clean_logits"),
               variables_.get("jtdmoe.robust_logits_eval"));
  const double loss = standard_->step(lr);
  // The epoch loop scores "logits": the dual output this step trained on.
  backend.copy(variables_.get("logits"), variables_.get("jtdmoe.dual_train_logits"));
  return loss;
}

double JtdmoeTraining::iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                               const std::function<void(double)>& check) {
  load_batch(variables_, batches.at(0).images, batches.at(0).labels);
  const double robust = robust_step(key, lr);
  check(robust);
  check(standard_step(lr));
  return robust;
}

}  // namespace advmoe
