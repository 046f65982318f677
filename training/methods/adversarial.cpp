// PGD-AT and TRADES, and the graph pieces all adversarial methods share.
#include <string>

#include "models/registry.h"
#include "ops/basic.h"
#include "ops/losses.h"
#include "ops/moe.h"
#include "training/methods/methods.h"

namespace advmoe {

void add_branch_routers(Model& model, const std::vector<Model::Router>& routers) {
  for (const Model::Router& r : routers) {
    model.graph->mark_output(
        r.index.id, "route/" + r.name + "/branch" + std::to_string(model.branch_routers.size()));
    model.branch_routers.push_back(r);
  }
}

AdversarialBranch add_adversarial_branch(Model& model) {
  Graph& g = *model.graph;
  AdversarialBranch b;
  b.adv_images = Val{&g, g.input("adv_images", model.images.shape())};
  Forward second = apply_model(model, b.adv_images);
  b.adv_logits = second.logits;
  b.adv_routers = second.routers;
  add_branch_routers(model, second.routers);
  b.ce_clean = softmax_cross_entropy(model.logits, model.labels, "ce_clean");
  return b;
}

Val with_balance_loss(Val loss, const Model& model, const AdversarialBranch& branch,
                      const MethodConfig& config) {
  if (config.balance_loss <= 0) return loss;
  for (const auto* routers : {&model.routers, &branch.adv_routers})
    for (const Model::Router& r : *routers)
      loss =
          loss + scale(balance_loss(r.logits, r.index, r.name + ".balance"), config.balance_loss);
  return loss;
}

PgdConfig training_attack(const MethodConfig& config, PgdStart start) {
  PgdConfig pgd;
  pgd.epsilon = config.epsilon;
  pgd.step_size = config.step_size > 0 ? config.step_size : 2.5 * config.epsilon / config.steps;
  pgd.steps = config.steps;
  pgd.start = start;
  pgd.seed = config.seed;
  pgd.router_gradient = config.router_gradient;
  return pgd;
}

// KL(f(x) || f(x')) with batchmean reduction; both branches differentiable in training.
Val trades_kl(const Model& model, const AdversarialBranch& branch) {
  return kl_div(log_softmax(model.logits), log_softmax(branch.adv_logits), "kl_clean_adversarial");
}

AdversarialTraining::AdversarialTraining(Model& model, Variables& variables,
                                         const MethodConfig& config)
    : variables_(variables) {
  Graph& g = *model.graph;
  AdversarialBranch branch = add_adversarial_branch(model);
  const bool pgd_at = config.method == Method::PgdAt;
  Val loss, attack_loss;
  if (pgd_at) {
    loss = softmax_cross_entropy(branch.adv_logits, model.labels, "ce_adversarial");
    attack_loss = loss;
  } else {
    Val kl = trades_kl(model, branch);
    loss = branch.ce_clean + scale(kl, config.beta);
    attack_loss = kl;
  }
  loss = with_balance_loss(loss, model, branch, config);
  g.mark_loss(loss.id, "loss");
  if (attack_loss.id != loss.id) g.mark_loss(attack_loss.id, "attack_objective");
  attack_ = std::make_unique<PgdAttack>(
      g, variables, attack_loss.id, branch.adv_images.id,
      training_attack(config, pgd_at ? PgdStart::Uniform : PgdStart::Trades));
  level_.emplace(g, variables, "all", loss.id, trained_params(g, config), scored_values(model),
                 config.sgd);
}

double AdversarialTraining::iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                                    const std::function<void(double)>& /*check*/) {
  load_batch(variables_, batches.at(0).images, batches.at(0).labels);
  // From the batch in "images" into the attack's own input "adv_images": no host round trip.
  attack_->run(variables_.get("images"), variables_.get("adv_images"), key);
  return level_->step(lr);
}

}  // namespace advmoe
