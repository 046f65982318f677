// The run loop: epochs, evaluation, checkpoints, reports and the final evaluation.
#include "training/training_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "runtime/communicator.h"
#include "training/data_parallel.h"
#include "training/pgd_report.h"
#include "training/run_files.h"

namespace advmoe {

namespace {

// The chosen metric as "higher is better".
double score(const EpochMetrics& m, BestMetric metric) {
  switch (metric) {
    case BestMetric::TestAccuracy:
      return m.test_accuracy;
    case BestMetric::TestLoss:
      return -m.test_loss;
    case BestMetric::TrainAccuracy:
      return m.train_accuracy;
    case BestMetric::TrainLoss:
      return -m.train_loss;
  }
  return 0;
}

}  // namespace

BestMetric parse_best_metric(const std::string& text) {
  if (text == "test_accuracy") return BestMetric::TestAccuracy;
  if (text == "test_loss") return BestMetric::TestLoss;
  if (text == "train_accuracy") return BestMetric::TrainAccuracy;
  if (text == "train_loss") return BestMetric::TrainLoss;
  throw Error(
      "the best metric must be test_accuracy, test_loss, train_accuracy or train_loss, "
      "got '" +
      text + "'");
}

TrainingRun::TrainingRun(Model& model, Backend& backend, const TrainConfig& train,
                         const MethodConfig& method, RunConfig run)
    : model_(model), config_(train), run_(std::move(run)), trainer_(model, backend, train, method) {
  state_.dataset = run_.dataset;
  state_.seed = train.seed;
  state_.config_ini = run_.config_ini;
  // Data-parallel: rank 0 alone writes the run directory (every rank reads it on resume, so
  // several hosts need it on a shared filesystem; docs/distributed.md).
  if (writes_files()) std::filesystem::create_directories(run_.dir);
  if (run_.resume) {
    const std::string last = run_.dir + "/last.h5";
    const RunState& saved = run_.resume->state;
    load_checkpoint_tensors(last, model, trainer_.variables(), /*with_optimizer=*/true);
    trainer_.set_global_step(saved.step);
    state_.epoch = saved.epoch;
    state_.step = saved.step;
    state_.metrics = saved.metrics;
    std::printf("resumed %s at epoch %lld, step %lld\n", last.c_str(),
                static_cast<long long>(saved.epoch), static_cast<long long>(saved.step));
  }
  if (!run_.resume && !run_.init_from.empty()) {
    std::vector<std::string> derived =
        load_initial_parameters(run_.init_from, model, trainer_.variables());
    std::printf("initialized from %s%s\n", run_.init_from.c_str(),
                derived.empty() ? ""
                                : (" (" + std::to_string(derived.size()) +
                                   " score tensors from its weights, HYDRA's scaled rule)")
                                      .c_str());
  }
  if (writes_files()) std::ofstream(run_.dir + "/config.ini") << state_.config_ini;
  check_ranks_agree(model_, trainer_.variables(), "at the start");
}

bool TrainingRun::writes_files() const {
  return world().rank() == 0;
}

void TrainingRun::save(const std::string& file) {
  if (writes_files()) save_checkpoint(run_.dir + "/" + file, model_, trainer_.variables(), state_);
}

RunResult TrainingRun::run(const Dataset& train, const Dataset& test) {
  const int64_t steps = train.size() / (model_.images.shape()[0] * world().size());
  trainer_.set_total_steps(steps * config_.epochs);
  const std::string usage_csv = run_.dir + "/usage.csv";
  double best = -std::numeric_limits<double>::infinity();
  for (const EpochMetrics& m : state_.metrics) best = std::max(best, score(m, run_.best_metric));
  std::vector<std::string> moe_layers;
  for (const LayerUsage& u : trainer_.usage()) moe_layers.push_back(u.layer);
  RunResult result;
  for (int epoch = static_cast<int>(state_.epoch) + 1; epoch <= config_.epochs; ++epoch) {
    Progress progress("train", steps);
    EpochMetrics m = trainer_.train_epoch(train, epoch, &progress);
    progress.finish();
    EvalResult r = trainer_.evaluate(test);
    m.test_loss = r.loss;
    m.test_accuracy = r.accuracy;
    m.busiest_clean = busiest_shares(trainer_.clean_usage());
    m.busiest_adversarial.assign(m.busiest_clean.size(), std::nan(""));
    if (run_.epoch_attack) {
      m.robust_accuracy =
          trainer_.evaluate_adversarial(test.head(run_.epoch_attack_limit), *run_.epoch_attack)
              .accuracy;
      m.busiest_adversarial = busiest_shares(trainer_.adversarial_usage());
    }
    std::printf(
        "epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | %.1fs, %.0f img/s\n",
        epoch, config_.epochs, m.train_loss, 100 * m.train_accuracy, r.loss, 100 * r.accuracy,
        m.seconds, m.images_per_second);
    if (run_.epoch_attack)
      std::printf("  robust accuracy %.2f%% (%s, first %lld test images)\n",
                  100 * m.robust_accuracy, describe(*run_.epoch_attack).c_str(),
                  static_cast<long long>(std::min(run_.epoch_attack_limit, test.size())));
    state_.epoch = epoch;
    state_.step = trainer_.global_step();
    state_.metrics.push_back(m);
    check_ranks_agree(model_, trainer_.variables(), "after epoch " + std::to_string(epoch));
    save("last.h5");
    if (score(m, run_.best_metric) > best) {
      best = score(m, run_.best_metric);
      save("best.h5");
    }
    if (writes_files()) {
      write_metrics_csv(run_.dir + "/metrics.csv", state_.metrics, moe_layers);
      report_usage(usage_csv, epoch, "clean training", trainer_.usage());
      report_usage(usage_csv, epoch, "clean test", trainer_.clean_usage());
      if (run_.epoch_attack)
        report_usage(usage_csv, epoch, "adversarial test", trainer_.adversarial_usage());
    }
    std::fflush(stdout);
    if (epoch == run_.stop_after_epoch) return result;
  }
  // The final evaluation: the whole test set, clean and under the full attack.
  result.clean = trainer_.evaluate(test);
  std::printf("final test accuracy: %.2f%% on %lld images\n", 100 * result.clean.accuracy,
              static_cast<long long>(result.clean.examples));
  print_usage_summary("clean test", trainer_.clean_usage());
  // Each MoE layer's busiest-expert share on the whole test set, for the study scripts.
  auto shares_json = [&](const std::vector<LayerUsage>& usage) {
    std::ostringstream out;
    out << "[";
    std::vector<double> shares = busiest_shares(usage);
    for (size_t i = 0; i < shares.size(); ++i)
      out << (i ? ", " : "") << (std::isfinite(shares[i]) ? std::to_string(shares[i]) : "null");
    return out.str() + "]";
  };
  std::ostringstream layers_json;
  for (size_t i = 0; i < moe_layers.size(); ++i)
    layers_json << (i ? ", " : "") << "\"" << moe_layers[i] << "\"";
  std::ostringstream json;
  json.precision(17);
  json << "{\"epoch\": " << state_.epoch << ", \"dataset\": \"" << test.name
       << "\", \"test_images\": " << result.clean.examples
       << ", \"clean_accuracy\": " << result.clean.accuracy
       << ", \"clean_loss\": " << result.clean.loss << ", \"moe_layers\": [" << layers_json.str()
       << "], \"busiest_clean\": " << shares_json(trainer_.clean_usage())
       << ", \"collapsed_threshold\": " << kCollapsedShare;
  if (run_.final_attack) {
    auto start = std::chrono::steady_clock::now();
    EvalResult robust = trainer_.evaluate_adversarial(test, *run_.final_attack);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("final robust accuracy: %.2f%% on %lld images (%s; %.0fs)\n", 100 * robust.accuracy,
                static_cast<long long>(robust.examples), describe(*run_.final_attack).c_str(),
                seconds);
    print_usage_summary("adversarial test", trainer_.adversarial_usage());
    json << ", \"robust_accuracy\": " << robust.accuracy << ", \"robust_loss\": " << robust.loss
         << ", \"attack\": " << attack_json(*run_.final_attack)
         << ", \"busiest_adversarial\": " << shares_json(trainer_.adversarial_usage());
    result.robust = robust;
  } else {
    json << ", \"robust_accuracy\": null, \"attack\": null, \"busiest_adversarial\": null";
  }
  json << "}";
  // The final numbers, distinct from the per-epoch quick RA: in final.json and in last.h5.
  state_.final_json = json.str();
  if (writes_files()) write_text_atomically(run_.dir + "/final.json", state_.final_json + "\n");
  save("last.h5");
  std::fflush(stdout);
  result.finished = true;
  return result;
}

}  // namespace advmoe
