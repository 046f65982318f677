// PGD-AT, TRADES and AdvMoE's bi-level alternating optimization.
#include "training/adversarial_trainer.h"

#include <cmath>

#include "graph/autodiff.h"
#include "models/registry.h"
#include "ops/basic.h"
#include "ops/losses.h"
#include "ops/moe.h"

namespace advmoe {

AdversarialTrainer::AdversarialTrainer(Model& model, Backend& backend, TrainConfig config,
                                       AdversarialConfig adv)
    : ClassifierTrainer(model, backend, config, /*standard_step=*/false), adv_(adv) {
  const std::string& method = adv.method;
  ADVMOE_CHECK(
      method == "pgd-at" || method == "trades" || method == "advmoe",
      "unknown training method '" << method << "' (available: standard, pgd-at, trades, advmoe)");
  ADVMOE_CHECK(method != "advmoe" || !model.graph->params("router").empty(),
               "method advmoe needs an MoE model with routers (--variant moe)");
  ADVMOE_CHECK(adv.epsilon >= 0 && adv.steps >= 1 && adv.beta >= 0,
               "adversarial training needs epsilon >= 0, at least one attack step and beta >= 0");
  if (adv_.step_size <= 0) adv_.step_size = 2.5 * adv_.epsilon / adv_.steps;

  Graph& g = *model.graph;
  Val adv_images{&g, g.input("adv_images", model.images.shape())};
  Val adv_logits = apply_model(model, adv_images);
  Val ce_clean = softmax_cross_entropy(model.logits, model.labels, "ce_clean");
  Val loss, attack_loss;
  if (method == "pgd-at") {
    loss = softmax_cross_entropy(adv_logits, model.labels, "ce_adversarial");
    attack_loss = loss;
  } else {
    // KL(f(x) || f(x')) with batchmean reduction; both branches differentiable in training.
    Val kl = kl_div(log_softmax(model.logits), log_softmax(adv_logits), "kl_clean_adversarial");
    loss = ce_clean + scale(kl, adv_.beta);
    attack_loss = kl;
  }
  if (config.balance_loss > 0)
    for (const Model::Router& r : model.routers)
      loss =
          loss + scale(balance_loss(r.logits, r.index, r.name + ".balance"), config.balance_loss);
  g.mark_loss(loss.id, "loss");
  if (attack_loss.id != loss.id) g.mark_loss(attack_loss.id, "attack_objective");

  PgdConfig pgd{adv_.epsilon,
                adv_.step_size,
                adv_.steps,
                method == "pgd-at",
                config.seed,
                /*trades_start=*/method != "pgd-at"};
  attack_ = std::make_unique<PgdAttack>(g, variables_, attack_loss.id, adv_images.id, pgd);
  if (method == "advmoe") {
    routers_ = make_level(loss.id, g.params("router"));
    backbone_ = make_level(loss.id, g.params("backbone"));
  } else {
    all_ = make_level(loss.id, g.params());
  }
  clean_ = Tensor::zeros(model.images.shape(), DType::F32);
  adversarial_ = Tensor::zeros(model.images.shape(), DType::F32);
  backbone_images_ = Tensor::zeros(model.images.shape(), DType::F32);
  router_images_ = Tensor::zeros(model.images.shape(), DType::F32);
  backbone_labels_ = Tensor::zeros(model.labels.shape(), DType::I32);
  router_labels_ = Tensor::zeros(model.labels.shape(), DType::I32);
}

AdversarialTrainer::Level AdversarialTrainer::make_level(ValueId loss,
                                                         const std::vector<ValueId>& params) {
  Graph& g = *model_.graph;
  Gradients grads = autodiff(g, loss, params);
  CompileOptions options{Mode::Train, {loss, model_.logits.id}};
  for (const std::string& route : route_outputs_) options.targets.push_back(g.find(route));
  std::vector<std::string> names;
  for (ValueId p : params) {
    options.targets.push_back(grads[p]);
    names.push_back(g.value(p).name);
  }
  Level level{compile(g, variables_, options), nullptr};
  level.sgd = std::make_unique<Sgd>(variables_, names, config_.sgd);
  return level;
}

void AdversarialTrainer::begin_epoch(const Dataset& train, int epoch) {
  train_ = &train;
  if (adv_.method != "advmoe") return;
  // B_phi: a second pass in another order, so that each iteration's two batches differ.
  int64_t batch = model_.images.shape()[0];
  router_batches_ = std::make_unique<BatchLoader>(
      train, epoch_order(config_.seed ^ 0x0BE7A5EEDull, epoch, train.size()), batch, true,
      config_.augmentation, config_.seed ^ 0x0BE7A5EEDull, epoch);
}

double AdversarialTrainer::attacked_step(Level& level, uint64_t batch_key) {
  Backend& backend = variables_.backend();
  backend.copy(clean_, variables_.get("images"));
  attack_->run(clean_, adversarial_, batch_key);
  backend.copy(variables_.get("adv_images"), adversarial_);
  level.plan->run();
  double value = read_scalar("loss");
  if (std::isfinite(value)) level.sgd->step(schedule_.at(global_step_));
  return value;
}

double AdversarialTrainer::train_step(int epoch, int64_t step) {
  uint64_t key = (static_cast<uint64_t>(epoch) << 32) + static_cast<uint64_t>(step);
  if (adv_.method != "advmoe") return attacked_step(all_, key);
  // Lower level: the routers on B_phi. The backbone batch already loaded into the variables is
  // kept aside and restored for the upper level.
  Backend& backend = variables_.backend();
  backend.copy(backbone_images_, variables_.get("images"));
  backend.copy(backbone_labels_, variables_.get("labels"));
  router_batches_->next(router_images_, router_labels_);
  backend.copy(variables_.get("images"), router_images_);
  backend.copy(variables_.get("labels"), router_labels_);
  double router_loss = attacked_step(routers_, key | (1ull << 63));
  check_loss(router_loss, epoch, step);
  // Upper level: the backbone on B_psi, against a fresh attack on the updated routers.
  backend.copy(variables_.get("images"), backbone_images_);
  backend.copy(variables_.get("labels"), backbone_labels_);
  return attacked_step(backbone_, key);
}

}  // namespace advmoe
