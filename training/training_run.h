// One training run in a run directory: epochs of a Trainer, per-epoch evaluation (clean test
// accuracy, and the quick PGD check on the first test images), last.h5 after every epoch,
// best.h5 at the best epoch, metrics.csv and usage.csv, exact resume from last.h5, then the final
// evaluation on the whole test set into final.json and last.h5. `advmoe train` and the tests run
// this same object, so what the tests prove about resume holds for the shipped loop.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "training/checkpoint.h"
#include "training/trainer.h"

namespace advmoe {

enum class BestMetric { TestAccuracy, TestLoss, TrainAccuracy, TrainLoss };
// "test_accuracy" | "test_loss" | "train_accuracy" | "train_loss" (throws naming them).
BestMetric parse_best_metric(const std::string& text);

struct RunConfig {
  std::string dir;         // the run directory (created if missing)
  std::string config_ini;  // the run's full configuration, kept in config.ini and checkpoints
  std::string dataset;     // the dataset's name, kept in checkpoints
  std::optional<PgdConfig> epoch_attack;  // the per-epoch PGD check; none: off
  int64_t epoch_attack_limit = 1000;      // ... on the first N test images
  std::optional<PgdConfig> final_attack;  // the final robust accuracy on the whole test set
  BestMetric best_metric = BestMetric::TestAccuracy;
  // Resume from <dir>/last.h5, whose header the caller has read and checked.
  std::optional<CheckpointHeader> resume;
  // A new run's starting parameters and buffers (load_initial_parameters); empty: the seed's.
  std::string init_from;
  // Tests: return right after this epoch's checkpoints, as a run killed then would leave them
  // (0: run to the end).
  int stop_after_epoch = 0;
};

struct RunResult {
  EvalResult clean;
  std::optional<EvalResult> robust;
  bool finished = false;  // false when stopped by stop_after_epoch
};

class TrainingRun {
 public:
  TrainingRun(Model& model, Backend& backend, const TrainConfig& train, const MethodConfig& method,
              RunConfig run);
  RunResult run(const Dataset& train, const Dataset& test);
  Trainer& trainer() { return trainer_; }

 private:
  void save(const std::string& file);
  bool writes_files() const;  // rank 0 of a data-parallel run (or the single process)

  Model& model_;
  TrainConfig config_;
  RunConfig run_;
  Trainer trainer_;
  RunState state_;
};

}  // namespace advmoe
