// The epoch engine of a training program: the Variables (weights, momenta, BN statistics), one
// TrainingMethod (training/method.h), the eval-mode Plan, the learning-rate schedule and the data
// streams of an epoch. train_epoch() draws each iteration's batches (a second, differently
// shuffled stream for methods that take two) and hands them to the method; evaluation reuses one
// attack per configuration, so repeated evaluations do not grow the graph.
// training/training_run.h puts epochs, checkpoints and reports around it.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

#include "datasets/batcher.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "training/evaluate.h"
#include "training/lr_schedule.h"
#include "training/method.h"
#include "training/pgd.h"
#include "training/progress.h"
#include "training/route_balance.h"

namespace advmoe {

struct TrainConfig {
  int epochs = 1;
  double lr = 0.05;
  ScheduleKind schedule = ScheduleKind::Cosine;
  uint64_t seed = 0;  // initialization, data order, augmentation and the attacks' starts
  bool shuffle = true;
  Augmentation augmentation;  // off by default; the CLI turns on crop 4 + flip for CIFAR-like data
  // moe: the routers' bias-balancing step per iteration (training/route_balance.h; 0: off).
  double balance_rate = 0;
};

struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double seconds = 0, images_per_second = 0;
  double robust_accuracy = std::nan("");  // the quick per-epoch PGD check; NaN when not run
  // moe: each MoE layer's busiest-expert share of the test images after the epoch (run_files.h),
  // clean and under the per-epoch attack (NaN when not run); empty for other models.
  std::vector<double> busiest_clean, busiest_adversarial;
};

class Trainer {
 public:
  // Initializes the parameters from config.seed, builds `method` on the model's graph and
  // compiles every Plan.
  Trainer(Model& model, Backend& backend, TrainConfig config, MethodConfig method = {});

  // One pass over `train` (last partial batch dropped); throws naming the step if a loss is not
  // finite. `progress` may be null.
  EpochMetrics train_epoch(const Dataset& train, int epoch, Progress* progress);
  // One iteration on the next batches of `train` (epoch 1's streams; for benchmarks).
  double iterate(const Dataset& train);

  // Clean accuracy; MoE usage on these inputs goes to clean_usage().
  EvalResult evaluate(const Dataset& data);
  // Robust accuracy under PGD with `config`; MoE usage on the adversarial inputs goes to
  // adversarial_usage().
  EvalResult evaluate_adversarial(const Dataset& data, const PgdConfig& config);
  const std::vector<LayerUsage>& adversarial_usage() const { return adversarial_usage_; }
  const std::vector<LayerUsage>& clean_usage() const { return clean_usage_; }
  // MoE: expert usage of the last train_epoch (clean training inputs); empty for other models.
  const std::vector<LayerUsage>& usage() const { return usage_; }

  Variables& variables() { return variables_; }
  TrainingMethod& method() { return *method_; }
  Plan& eval_plan() { return *eval_plan_; }
  int64_t global_step() const { return global_step_; }
  void set_total_steps(int64_t steps) { schedule_.total_steps = steps; }
  // Resuming: continue the schedule from this optimizer step.
  void set_global_step(int64_t step) { global_step_ = step; }

 private:
  // The epoch's data streams: B (B_psi) in the epoch's order, and for two-batch methods B_phi
  // in another order, so that each iteration's two batches differ.
  void open_streams(const Dataset& train, int epoch);
  double iterate_once(int epoch, int64_t step);
  void check_loss(double value, int epoch, int64_t step) const;
  static Shard this_rank_shard();

  Model& model_;
  TrainConfig config_;
  Variables variables_;
  std::unique_ptr<Plan> eval_plan_;
  std::unique_ptr<TrainingMethod> method_;
  RouteBalancer balancer_;
  LrSchedule schedule_;
  int64_t global_step_ = 0;
  std::vector<std::unique_ptr<BatchLoader>> streams_;
  std::vector<HostBatch> batches_;
  int64_t bench_iterations_ = 0;
  std::vector<std::string> route_outputs_;  // one per entry of usage_
  std::vector<LayerUsage> usage_, clean_usage_, adversarial_usage_;
  // Evaluation attacks, one per configuration asked for, built on first use.
  std::vector<std::pair<PgdConfig, std::unique_ptr<PgdAttack>>> attacks_;
};

}  // namespace advmoe
