// The standard training loop.
#include "training/classifier_trainer.h"

#include <chrono>
#include <cmath>
#include <numeric>

#include "compile/autodiff.h"
#include "datasets/batcher.h"
#include "models/registry.h"
#include "ops/basic.h"
#include "ops/losses.h"
#include "ops/moe.h"
#include "training/evaluate.h"

namespace advmoe {

ClassifierTrainer::ClassifierTrainer(Model& model, Backend& backend, TrainConfig config,
                                     bool standard_step)
    : model_(model), config_(config), variables_(backend) {
  Graph& g = *model.graph;
  // Expert usage: each MoE layer's route becomes an output of the training and eval plans.
  route_outputs_ = mark_route_outputs(model);
  usage_ = empty_usage(model);
  initialize_parameters(model, variables_, config.seed);
  schedule_ = LrSchedule{config.schedule, config.lr, 1};
  CompileOptions eval{Mode::Eval, {model.logits.id}};
  for (const std::string& route : route_outputs_) eval.targets.push_back(g.find(route));
  eval_plan_ = compile(g, variables_, eval);
  adversarial_usage_ = usage_;
  if (!standard_step) return;

  Val loss = softmax_cross_entropy(model.logits, model.labels, "cross_entropy");
  if (config.balance_loss > 0)
    for (const Model::Router& r : model.routers)
      loss =
          loss + scale(balance_loss(r.logits, r.index, r.name + ".balance"), config.balance_loss);
  g.mark_loss(loss.id, "loss");
  std::vector<ValueId> params = g.params();
  Gradients grads = autodiff(g, loss.id, params);
  SgdUpdate update = add_sgd_update(g, params, grads, config.sgd, "learning_rate");
  CompileOptions train{Mode::Train, {loss.id, model.logits.id}};
  for (const std::string& route : route_outputs_) train.targets.push_back(g.find(route));
  for (ValueId p : params) train.targets.push_back(grads[p]);
  for (ValueId token : update.tokens) train.targets.push_back(token);
  train_plan_ = compile(g, variables_, train);
  learning_rate_ = update.learning_rate;
}

double ClassifierTrainer::train_step(int /*epoch*/, int64_t /*step*/) {
  write_scalar(learning_rate_, schedule_.at(global_step_));
  train_plan_->run();
  return read_scalar("loss");
}

void ClassifierTrainer::write_scalar(const std::string& name, double value) {
  Tensor host = Tensor::zeros(Shape{}, DType::F32);
  host.data<float>()[0] = static_cast<float>(value);
  variables_.backend().copy(variables_.get(name), host);
}

double ClassifierTrainer::read_scalar(const std::string& name) {
  Tensor host = Tensor::zeros(Shape{}, DType::F32);
  variables_.backend().copy(host, variables_.get(name));
  return host.item(0);
}

void ClassifierTrainer::check_loss(double value, int epoch, int64_t step) const {
  ADVMOE_CHECK(std::isfinite(value), "training diverged: loss is "
                                         << value << " at epoch " << epoch << ", step " << step + 1
                                         << " (global step " << global_step_ + 1 << ")");
}

EpochMetrics ClassifierTrainer::train_epoch(const Dataset& train, int epoch, Progress* progress) {
  auto start = std::chrono::steady_clock::now();
  Backend& backend = variables_.backend();
  const Tensor& images = variables_.get("images");
  const Tensor& labels = variables_.get("labels");
  const Tensor& logits = variables_.get("logits");
  int64_t batch = images.shape()[0];
  int64_t steps = train.size() / batch;
  ADVMOE_CHECK(steps > 0, "training set " << train.name << " has " << train.size()
                                          << " examples, fewer than one batch of " << batch);
  bool on_host = backend.device().kind == DeviceKind::CPU;
  Tensor host_images = on_host ? images : Tensor::zeros(images.shape(), DType::F32);
  Tensor host_labels = on_host ? labels : Tensor::zeros(labels.shape(), DType::I32);
  Tensor host_logits = on_host ? logits : Tensor::zeros(logits.shape(), DType::F32);

  std::vector<int64_t> order = epoch_order(config_.seed, epoch, train.size());
  if (!config_.shuffle) std::iota(order.begin(), order.end(), 0);
  BatchLoader loader(train, std::move(order), batch, /*drop_last=*/true, config_.augmentation,
                     config_.seed, epoch);

  for (LayerUsage& u : usage_) std::fill(u.counts.begin(), u.counts.end(), 0);
  Tensor host_route = Tensor::zeros(Shape{batch}, DType::I32);
  begin_epoch(train, epoch);

  EpochMetrics m;
  m.epoch = epoch;
  int64_t correct = 0;
  double loss_sum = 0, logit_loss = 0;  // logit_loss: unused, the plan's loss is reported
  for (int64_t step = 0; step < steps; ++step) {
    loader.next(host_images, host_labels);
    if (!on_host) {
      backend.copy(images, host_images);
      backend.copy(labels, host_labels);
    }
    double value = train_step(epoch, step);
    check_loss(value, epoch, step);
    ++global_step_;
    if (!on_host) backend.copy(host_logits, logits);
    if (!usage_.empty()) count_routes(variables_, route_outputs_, batch, host_route, usage_);
    score_logits(host_logits, host_labels, batch, &correct, &logit_loss);
    loss_sum += value;
    if (progress)
      progress->update(step + 1, epoch, config_.epochs, loss_sum / (step + 1),
                       static_cast<double>(correct) / ((step + 1) * batch), batch);
  }
  m.train_loss = loss_sum / steps;
  m.train_accuracy = static_cast<double>(correct) / (steps * batch);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.images_per_second = steps * batch / m.seconds;
  return m;
}

EvalResult ClassifierTrainer::evaluate(const Dataset& data) {
  return evaluate_classifier(*eval_plan_, variables_, data);
}

EvalResult ClassifierTrainer::evaluate_adversarial(const Dataset& data, const PgdConfig& config) {
  // A new attack Plan per call: per-epoch checks and the final evaluation differ in settings.
  attack_ = std::make_unique<PgdAttack>(model_, variables_, config);
  return evaluate_classifier(*eval_plan_, variables_, data, attack_.get(), &adversarial_usage_,
                             route_outputs_);
}

}  // namespace advmoe
