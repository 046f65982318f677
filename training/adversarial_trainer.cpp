// PGD-AT, TRADES and AdvMoE's bi-level alternating optimization (paper and reference-code).
#include "training/adversarial_trainer.h"

#include <cmath>

#include "compile/autodiff.h"
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
  ADVMOE_CHECK(adv.epsilon >= 0 && adv.steps >= 1 && adv.beta >= 0 && adv.router_lr >= 0,
               "adversarial training needs epsilon >= 0, at least one attack step, beta >= 0 "
               "and a router learning rate >= 0");
  ADVMOE_CHECK(adv.preset == "paper" || adv.preset == "reference-code",
               "unknown preset '" << adv.preset << "' (available: paper, reference-code)");
  reference_code_ = method == "advmoe" && adv.preset == "reference-code";
  ADVMOE_CHECK(!reference_code_ || model.config.routing == "global",
               "preset reference-code trains a global router: use --routing global");
  if (adv_.step_size <= 0) adv_.step_size = 2.5 * adv_.epsilon / adv_.steps;

  Graph& g = *model.graph;
  const size_t clean_routers = model.routers.size();
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
  // The balance loss covers the routers of both forwards.
  if (config.balance_loss > 0)
    for (const Model::Router& r : model.routers)
      loss =
          loss + scale(balance_loss(r.logits, r.index, r.name + ".balance"), config.balance_loss);
  g.mark_loss(loss.id, "loss");
  Val router_loss;
  if (reference_code_) {
    Val router_clean = model.routers[0].logits, router_adv = model.routers[clean_routers].logits;
    Val router_kl = kl_div(log_softmax(router_clean), log_softmax(router_adv), "router_kl");
    attack_loss = attack_loss + router_kl;
    Val targets{&g, g.input("router_labels", model.labels.shape(), DType::I32)};
    router_loss =
        scale(softmax_cross_entropy(router_clean, targets, "router_ce"), adv_.router_ce_weight) +
        scale(router_kl, adv_.beta);
    g.mark_loss(router_loss.id, "router_loss");
  }
  if (attack_loss.id != loss.id) g.mark_loss(attack_loss.id, "attack_objective");

  PgdConfig pgd;
  pgd.epsilon = adv_.epsilon;
  pgd.step_size = adv_.step_size;
  pgd.steps = adv_.steps;
  pgd.start = method == "pgd-at" ? PgdStart::Uniform : PgdStart::Trades;
  pgd.seed = config.seed;
  pgd.router_gradient = adv_.router_gradient;
  attack_ = std::make_unique<PgdAttack>(g, variables_, attack_loss.id, adv_images.id, pgd);
  double router_scale = adv_.router_lr > 0 ? adv_.router_lr / config.lr : 1.0;
  if (method == "advmoe") {
    routers_ = reference_code_ ? make_level(router_loss.id, g.params("router"), false, router_scale)
                               : make_level(loss.id, g.params("router"), true, router_scale);
    backbone_ = make_level(loss.id, g.params("backbone"), true, 1.0);
  } else {
    all_ = make_level(loss.id, g.params(), true, 1.0);
  }
  backbone_images_ = Tensor::zeros(model.images.shape(), DType::F32);
  router_images_ = Tensor::zeros(model.images.shape(), DType::F32);
  backbone_labels_ = Tensor::zeros(model.labels.shape(), DType::I32);
  router_labels_ = Tensor::zeros(model.labels.shape(), DType::I32);
}

AdversarialTrainer::Level AdversarialTrainer::make_level(ValueId loss,
                                                         const std::vector<ValueId>& params,
                                                         bool report_outputs, double lr_scale) {
  Graph& g = *model_.graph;
  Gradients grads = autodiff(g, loss, params);
  CompileOptions options{Mode::Train, {loss}};
  // The logits and routes the epoch loop scores come from the levels that report them.
  if (report_outputs) {
    options.targets.push_back(model_.logits.id);
    for (const std::string& route : route_outputs_) options.targets.push_back(g.find(route));
  }
  for (ValueId p : params) options.targets.push_back(grads[p]);
  // The level's update nodes, in the same Plan: its run is the whole optimizer step.
  std::string group = params.empty() ? "all" : g.value(params[0]).group;
  if (params.size() == g.params().size()) group = "all";
  SgdUpdate update = add_sgd_update(g, params, grads, config_.sgd, "learning_rate/" + group);
  for (ValueId token : update.tokens) options.targets.push_back(token);
  return Level{compile(g, variables_, options), update.learning_rate, g.value(loss).name, lr_scale};
}

void AdversarialTrainer::begin_epoch(const Dataset& train, int epoch) {
  if (adv_.method != "advmoe" || reference_code_) return;
  // B_phi: a second pass in another order, so that each iteration's two batches differ.
  int64_t batch = model_.images.shape()[0];
  router_batches_ = std::make_unique<BatchLoader>(
      train, epoch_order(config_.seed ^ 0x0BE7A5EEDull, epoch, train.size()), batch, true,
      config_.augmentation, config_.seed ^ 0x0BE7A5EEDull, epoch);
}

double AdversarialTrainer::level_step(const std::string& group) {
  ADVMOE_CHECK(adv_.method == "advmoe", "level_step needs method advmoe");
  if (group == "router" && reference_code_) set_router_labels();
  return attacked_step(group == "router" ? routers_ : backbone_, 0);
}

double AdversarialTrainer::iterate(const Dataset& train) {
  if (iterations_ == 0) begin_epoch(train, 1);
  return train_step(1, iterations_++);
}

double AdversarialTrainer::attacked_step(Level& level, uint64_t batch_key) {
  // From the batch in "images" into the attack's own input "adv_images": no host round trip.
  attack_->run(variables_.get("images"), variables_.get("adv_images"), batch_key);
  write_scalar(level.learning_rate, level.lr_scale * schedule_.at(global_step_));
  level.plan->run();
  return read_scalar(level.loss);
}

void AdversarialTrainer::set_router_labels() {
  Backend& backend = variables_.backend();
  backend.copy(router_labels_, variables_.get("labels"));
  int32_t* y = router_labels_.data<int32_t>();
  for (int64_t i = 0; i < router_labels_.numel(); ++i) y[i] %= model_.config.experts;
  backend.copy(variables_.get("router_labels"), router_labels_);
}

double AdversarialTrainer::train_step(int epoch, int64_t step) {
  uint64_t key = (static_cast<uint64_t>(epoch) << 32) + static_cast<uint64_t>(step);
  if (adv_.method != "advmoe") return attacked_step(all_, key);
  if (!reference_code_) return paper_advmoe_step(epoch, step, key);
  // Reference code: both steps on this one batch, the backbone's first.
  double backbone_loss = attacked_step(backbone_, key);
  check_loss(backbone_loss, epoch, step);
  set_router_labels();
  double router_loss = attacked_step(routers_, key | (1ull << 63));
  check_loss(router_loss, epoch, step);
  return backbone_loss;
}

double AdversarialTrainer::paper_advmoe_step(int epoch, int64_t step, uint64_t key) {
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
