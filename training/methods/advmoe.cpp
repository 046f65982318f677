// AdvMoE's bi-level programs: the paper's Algorithm 1 and the public code's variant.
#include "ops/basic.h"
#include "ops/losses.h"
#include "training/methods/methods.h"

namespace advmoe {

namespace {

// Philox subsequences: the router level's attacks draw apart from the backbone level's.
constexpr uint64_t kRouterKey = 1ull << 63;

// The TRADES loss (+ balance loss) both presets' backbone level minimizes, marked "loss"; its
// attack objective, the KL, goes to *kl.
Val trades_loss(Model& model, const AdversarialBranch& branch, const MethodConfig& config,
                Val* kl) {
  *kl = kl_div(log_softmax(model.logits), log_softmax(branch.adv_logits), "kl_clean_adversarial");
  Val loss = with_balance_loss(branch.ce_clean + scale(*kl, config.beta), model, branch, config);
  model.graph->mark_loss(loss.id, "loss");
  return loss;
}

void check_advmoe_model(const Model& model) {
  ADVMOE_CHECK(!model.graph->params("router").empty(),
               "method advmoe needs an MoE model with routers (--variant moe)");
}

// One level's step: a fresh attack on the batch in "images", then the level's Plan.
double attacked_step(PgdAttack& attack, Variables& variables, Level& level, uint64_t key,
                     double lr) {
  attack.run(variables.get("images"), variables.get("adv_images"), key);
  return level.step(lr);
}

}  // namespace

AdvMoePaperTraining::AdvMoePaperTraining(Model& model, Variables& variables,
                                         const MethodConfig& config)
    : variables_(variables) {
  check_advmoe_model(model);
  Graph& g = *model.graph;
  AdversarialBranch branch = add_adversarial_branch(model);
  Val kl;
  Val loss = trades_loss(model, branch, config, &kl);
  g.mark_loss(kl.id, "attack_objective");
  attack_ = std::make_unique<PgdAttack>(g, variables, kl.id, branch.adv_images.id,
                                        training_attack(config, PgdStart::Trades));
  // Each level's Plan computes and updates its own group only: the other is fixed.
  routers_.emplace(g, variables, "router", loss.id, g.params("router"), scored_values(model),
                   config.sgd, config.router_lr_scale);
  backbone_.emplace(g, variables, "backbone", loss.id, g.params("backbone"), scored_values(model),
                    config.sgd);
}

double AdvMoePaperTraining::router_step(uint64_t key, double lr) {
  return attacked_step(*attack_, variables_, *routers_, key | kRouterKey, lr);
}

double AdvMoePaperTraining::backbone_step(uint64_t key, double lr) {
  return attacked_step(*attack_, variables_, *backbone_, key, lr);
}

double AdvMoePaperTraining::iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                                    const std::function<void(double)>& check) {
  const HostBatch &b_psi = batches.at(0), &b_phi = batches.at(1);
  // Lower level: the routers on B_phi.
  load_batch(variables_, b_phi.images, b_phi.labels);
  check(router_step(key, lr));
  // Upper level: the backbone on B_psi, against a fresh attack on the updated routers.
  load_batch(variables_, b_psi.images, b_psi.labels);
  return backbone_step(key, lr);
}

AdvMoeReferenceTraining::AdvMoeReferenceTraining(Model& model, Variables& variables,
                                                 const MethodConfig& config)
    : model_(model), variables_(variables) {
  check_advmoe_model(model);
  ADVMOE_CHECK(model.config.routing == "global",
               "preset reference-code trains a global router: use --routing global");
  Graph& g = *model.graph;
  AdversarialBranch branch = add_adversarial_branch(model);
  Val kl;
  Val loss = trades_loss(model, branch, config, &kl);
  // The global router's own TRADES pair: its attack term and its level's loss.
  Val router_clean = model.routers.at(0).logits, router_adv = branch.adv_routers.at(0).logits;
  Val router_kl = kl_div(log_softmax(router_clean), log_softmax(router_adv), "router_kl");
  Val attack_loss = kl + router_kl;
  Val targets{&g, g.input("router_labels", model.labels.shape(), DType::I32)};
  Val router_loss =
      scale(softmax_cross_entropy(router_clean, targets, "router_ce"), config.router_ce_weight) +
      scale(router_kl, config.beta);
  g.mark_loss(router_loss.id, "router_loss");
  g.mark_loss(attack_loss.id, "attack_objective");
  attack_ = std::make_unique<PgdAttack>(g, variables, attack_loss.id, branch.adv_images.id,
                                        training_attack(config, PgdStart::Trades));
  routers_.emplace(g, variables, "router", router_loss.id, g.params("router"),
                   std::vector<ValueId>{}, config.sgd, config.router_lr_scale);
  backbone_.emplace(g, variables, "backbone", loss.id, g.params("backbone"), scored_values(model),
                    config.sgd);
  router_labels_ = Tensor::zeros(model.labels.shape(), DType::I32);
}

void AdvMoeReferenceTraining::set_router_labels() {
  Backend& backend = variables_.backend();
  backend.copy(router_labels_, variables_.get("labels"));
  int32_t* y = router_labels_.data<int32_t>();
  for (int64_t i = 0; i < router_labels_.numel(); ++i) y[i] %= model_.config.experts;
  backend.copy(variables_.get("router_labels"), router_labels_);
}

double AdvMoeReferenceTraining::router_step(uint64_t key, double lr) {
  set_router_labels();
  return attacked_step(*attack_, variables_, *routers_, key | kRouterKey, lr);
}

double AdvMoeReferenceTraining::backbone_step(uint64_t key, double lr) {
  return attacked_step(*attack_, variables_, *backbone_, key, lr);
}

double AdvMoeReferenceTraining::iterate(const std::vector<HostBatch>& batches, uint64_t key,
                                        double lr, const std::function<void(double)>& check) {
  load_batch(variables_, batches.at(0).images, batches.at(0).labels);
  // Both levels on this one batch, the backbone's first.
  double backbone_loss = backbone_step(key, lr);
  check(backbone_loss);
  check(router_step(key, lr));
  return backbone_loss;
}

}  // namespace advmoe
