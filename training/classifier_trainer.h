// Standard (non-adversarial) training of a classifier as a graph program: one train-mode Plan
// (forward, cross-entropy, gradients of every parameter) and one eval-mode Plan (logits), both
// over the same Variables, plus SGD with a per-step learning-rate schedule.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

#include "compile/plan.h"
#include "datasets/batcher.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "training/evaluate.h"
#include "training/lr_schedule.h"
#include "training/pgd.h"
#include "training/progress.h"
#include "training/sgd.h"

namespace advmoe {

struct TrainConfig {
  int epochs = 1;
  double lr = 0.05;
  std::string schedule = "cosine";
  SgdConfig sgd;
  uint64_t seed = 0;
  bool shuffle = true;
  Augmentation augmentation;  // off by default; the CLI turns on crop 4 + flip for CIFAR-like data
  double balance_loss = 0;    // MoE: weight of the load-balancing loss per router (0: off)
};

struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double seconds = 0, images_per_second = 0;
  double robust_accuracy = std::nan("");  // the quick per-epoch PGD check; NaN when not run
};

class ClassifierTrainer {
 public:
  // Adds the loss and its gradients to model.graph, compiles both Plans and initializes the
  // parameters from config.seed. `standard_step` false leaves the training step to a subclass
  // (adversarial training builds its own losses, gradients and optimizers).
  ClassifierTrainer(Model& model, Backend& backend, TrainConfig config, bool standard_step = true);
  virtual ~ClassifierTrainer() = default;

  // One pass over `train` (last partial batch dropped); throws naming the step if the loss is
  // not finite. `progress` may be null.
  virtual EpochMetrics train_epoch(const Dataset& train, int epoch, Progress* progress);
  EvalResult evaluate(const Dataset& data);
  // Robust accuracy under PGD with `config`; MoE usage on the adversarial inputs goes to
  // adversarial_usage().
  EvalResult evaluate_adversarial(const Dataset& data, const PgdConfig& config);
  const std::vector<LayerUsage>& adversarial_usage() const { return adversarial_usage_; }
  // MoE: expert usage of the last train_epoch (clean training inputs); empty for other models.
  const std::vector<LayerUsage>& usage() const { return usage_; }

  Variables& variables() { return variables_; }
  virtual Plan& train_plan() { return *train_plan_; }  // the plan of the (last) optimizer step
  Plan& eval_plan() { return *eval_plan_; }
  int64_t global_step() const { return global_step_; }
  void set_total_steps(int64_t steps) { schedule_.total_steps = steps; }
  // Resuming: continue the schedule from this optimizer step.
  void set_global_step(int64_t step) { global_step_ = step; }

 protected:
  // Subclasses' hooks: prepare an epoch (e.g. a second data stream), and take one optimizer step
  // on the batch already in the "images"/"labels" variables, returning its loss. The standard
  // step runs the CE plan and SGD.
  virtual void begin_epoch(const Dataset& /*train*/, int /*epoch*/) {}
  virtual double train_step(int epoch, int64_t step);
  double read_scalar(const std::string& name);
  // Sets an f32 scalar variable (a learning-rate input) from the host.
  void write_scalar(const std::string& name, double value);
  // Checks a step's loss and names the step when it is NaN or infinite.
  void check_loss(double value, int epoch, int64_t step) const;

  Model& model_;
  TrainConfig config_;
  Variables variables_;
  std::unique_ptr<Plan> train_plan_, eval_plan_;
  std::string learning_rate_;  // the standard step's learning-rate input
  LrSchedule schedule_;
  int64_t global_step_ = 0;
  std::vector<std::string> route_outputs_;  // one per entry of usage_
  std::vector<LayerUsage> usage_, adversarial_usage_;
  std::unique_ptr<PgdAttack> attack_;
};

}  // namespace advmoe
