// The epoch loop, evaluation and the attack cache.
#include "training/trainer.h"

#include <chrono>
#include <numeric>

#include "models/registry.h"
#include "runtime/communicator.h"
#include "training/level.h"

namespace advmoe {

namespace {

// B_phi's order and augmentation draw from their own seed, apart from B_psi's.
constexpr uint64_t kSecondStreamSalt = 0x0BE7A5EEDull;

bool same_attack(const PgdConfig& a, const PgdConfig& b) {
  return a.epsilon == b.epsilon && a.step_size == b.step_size && a.steps == b.steps &&
         a.start == b.start && a.seed == b.seed && a.norm == b.norm && a.restarts == b.restarts &&
         a.objective == b.objective && a.router_gradient == b.router_gradient;
}

}  // namespace

Trainer::Trainer(Model& model, Backend& backend, TrainConfig config, MethodConfig method)
    : model_(model), config_(config), variables_(backend) {
  Graph& g = *model.graph;
  // Expert usage: each MoE layer's route becomes an output of the training and eval plans (the
  // balancer reads them too).
  route_outputs_ = mark_route_outputs(model);
  usage_ = empty_usage(model);
  clean_usage_ = usage_;
  adversarial_usage_ = usage_;
  initialize_parameters(model, variables_, config.seed);
  schedule_ = LrSchedule{config.schedule, config.lr, 1};
  // Every Plan of the program in one compilation: the shared arena is sized once and no
  // kernel is built twice.
  ProgramCompilation compilation(*variables_.arena());
  CompileOptions eval{Mode::Eval, {model.logits.id}};
  for (const std::string& route : route_outputs_) eval.targets.push_back(g.find(route));
  eval_plan_ = compile(g, variables_, eval);
  method.seed = config.seed;
  method_ = make_training_method(model, variables_, method);
  balancer_ = RouteBalancer(model, config.balance_rate);  // after the method's forwards exist
  compilation.finish();
  for (int k = 0; k < method_->batches_per_iteration(); ++k)
    batches_.push_back({Tensor::zeros(model.images.shape(), DType::F32),
                        Tensor::zeros(model.labels.shape(), DType::I32)});
}

void Trainer::open_streams(const Dataset& train, int epoch) {
  const int64_t batch = model_.images.shape()[0];
  streams_.clear();
  for (int k = 0; k < method_->batches_per_iteration(); ++k) {
    uint64_t seed = k == 0 ? config_.seed : config_.seed ^ kSecondStreamSalt;
    std::vector<int64_t> order = epoch_order(seed, epoch, train.size());
    if (k == 0 && !config_.shuffle) std::iota(order.begin(), order.end(), 0);
    // Data-parallel: this rank's rows of each global batch (datasets/batcher.h Shard).
    streams_.push_back(std::make_unique<BatchLoader>(train, std::move(order), batch,
                                                     /*drop_last=*/true, config_.augmentation, seed,
                                                     epoch, this_rank_shard()));
  }
}

Shard Trainer::this_rank_shard() {
  return Shard{world().rank(), world().size()};
}

void Trainer::check_loss(double value, int epoch, int64_t step) const {
  ADVMOE_CHECK(std::isfinite(value), "training diverged: loss is "
                                         << value << " at epoch " << epoch << ", step " << step + 1
                                         << " (global step " << global_step_ + 1 << ")");
}

double Trainer::iterate_once(int epoch, int64_t step) {
  for (size_t k = 0; k < streams_.size(); ++k)
    streams_[k]->next(batches_[k].images, batches_[k].labels);
  uint64_t key = (static_cast<uint64_t>(epoch) << 32) + static_cast<uint64_t>(step);
  balancer_.begin_step(variables_);
  double value = method_->iterate(batches_, key, schedule_.at(global_step_),
                                  [&](double loss) { check_loss(loss, epoch, step); });
  check_loss(value, epoch, step);
  ++global_step_;
  return value;
}

double Trainer::iterate(const Dataset& train) {
  if (bench_iterations_ == 0) open_streams(train, 1);
  double value = iterate_once(1, bench_iterations_++);
  balancer_.end_step(variables_, *eval_plan_, model_.images.shape()[0]);
  return value;
}

EpochMetrics Trainer::train_epoch(const Dataset& train, int epoch, Progress* progress) {
  auto start = std::chrono::steady_clock::now();
  const int64_t batch = model_.images.shape()[0];  // this rank's rows
  const int64_t global_batch = batch * world().size();
  const int64_t steps = train.size() / global_batch;
  ADVMOE_CHECK(steps > 0, "training set " << train.name << " has " << train.size()
                                          << " examples, fewer than one batch of " << global_batch);
  Backend& backend = variables_.backend();
  const Tensor& logits = variables_.get("logits");
  const bool on_host = backend.device().kind == DeviceKind::CPU;
  Tensor host_logits = on_host ? logits : Tensor::zeros(logits.shape(), DType::F32);
  Tensor host_route = Tensor::zeros(Shape{batch}, DType::I32);
  for (LayerUsage& u : usage_) std::fill(u.counts.begin(), u.counts.end(), 0);
  open_streams(train, epoch);

  EpochMetrics m;
  m.epoch = epoch;
  int64_t correct = 0;
  double loss_sum = 0, logit_loss = 0;  // logit_loss: unused, the plan's loss is reported
  for (int64_t step = 0; step < steps; ++step) {
    double value = iterate_once(epoch, step);
    // The scored Plan ran last, on batches_[0]: its logits and routes are in the variables.
    if (!on_host) backend.copy(host_logits, logits);
    if (!usage_.empty()) count_routes(variables_, route_outputs_, batch, host_route, usage_);
    score_logits(host_logits, batches_[0].labels, batch, &correct, &logit_loss);
    // After the scoring: the balancer's eval-mode passes overwrite the logits and routes.
    balancer_.end_step(variables_, *eval_plan_, batch);
    loss_sum += value;
    if (progress)
      progress->update(step + 1, epoch, config_.epochs, loss_sum / (step + 1),
                       static_cast<double>(correct) / ((step + 1) * batch), global_batch);
  }
  streams_.clear();
  // Data-parallel: the epoch's scores over every rank's rows (each rank's loss is the mean
  // over its equal share, so the mean of the ranks' losses is the global batch's).
  double sums[2] = {loss_sum, static_cast<double>(correct)};
  world().allreduce_sum(sums, 2);
  for (LayerUsage& u : usage_)
    world().allreduce_sum(u.counts.data(), static_cast<int64_t>(u.counts.size()));
  m.train_loss = sums[0] / world().size() / steps;
  m.train_accuracy = sums[1] / (steps * global_batch);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.images_per_second = steps * global_batch / m.seconds;
  return m;
}

EvalResult Trainer::evaluate(const Dataset& data) {
  return evaluate_classifier(*eval_plan_, variables_, data, nullptr, &clean_usage_, route_outputs_);
}

EvalResult Trainer::evaluate_adversarial(const Dataset& data, const PgdConfig& config) {
  PgdAttack* attack = nullptr;
  for (auto& [built_for, built] : attacks_)
    if (same_attack(built_for, config)) attack = built.get();
  if (!attack) {
    attacks_.emplace_back(config, std::make_unique<PgdAttack>(model_, variables_, config));
    attack = attacks_.back().second.get();
  }
  return evaluate_classifier(*eval_plan_, variables_, data, attack, &adversarial_usage_,
                             route_outputs_);
}

}  // namespace advmoe
