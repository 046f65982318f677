// Auto-PGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an
// ensemble of diverse parameter-free attacks") as a graph program: per iteration one eval-mode
// Plan computes the per-sample loss and its input gradient (AttackModel::loss_gradient), and a
// one-node Plan takes the momentum step (apgd_step, per-sample step size). The host keeps the
// per-sample state: best loss and point, misclassified points, and the step-size schedule
// (ApgdStepSchedule). Losses: cross-entropy (APGD-CE), DLR (APGD-DLR) and targeted DLR against
// each of the top-2 .. top-(n+1) clean classes (APGD-T).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "training/attacks/attack_model.h"
#include "training/attacks/eval_attack.h"

namespace advmoe {

enum class ApgdLoss { CrossEntropy, Dlr, DlrTargeted };

struct ApgdConfig {
  ApgdLoss loss = ApgdLoss::CrossEntropy;
  PgdNorm norm = PgdNorm::Linf;
  double epsilon = 8.0 / 255;
  int iterations = 100;
  int restarts = 1;        // untargeted: random starts, each on the rows still robust
  int target_classes = 9;  // targeted: top-2 .. top-(n+1), capped at classes - 1
  double rho = 0.75;       // halve when the loss rose in at most rho of an interval's steps
  uint64_t seed = 0;
  RouterGradient router_gradient = RouterGradient::None;
  // Stop once every attacked row is misclassified (nothing can change the outcome); benchmarks
  // turn it off to time every iteration.
  bool stop_early = true;
};

// APGD's per-sample step-size rule. At each checkpoint (apgd_checkpoints) a sample halves its step
// size and restarts from its best point when (1) its loss rose in at most rho of the interval's
// steps (each step compared with the point before it, the first with the start), or (2) it did not
// halve at the previous checkpoint and its best loss did not improve since.
class ApgdStepSchedule {
 public:
  ApgdStepSchedule(int iterations, double initial_step, double rho);
  // The loss at the start point, per sample: resets every sample's state.
  void start(const std::vector<double>& start_loss);
  // Iteration i's losses (i = 0, 1, ... in order). Afterwards improved() flags the samples whose
  // best loss rose, halved() those that halve and restart from their best point (checkpoints
  // only), and step(s) is the size of sample s's next step.
  void observe(int iteration, const std::vector<double>& loss);
  const std::vector<uint8_t>& improved() const { return improved_; }
  const std::vector<uint8_t>& halved() const { return halved_; }
  double step(size_t sample) const { return step_[sample]; }
  double best(size_t sample) const { return best_[sample]; }
  const std::vector<int>& checkpoints() const { return checkpoints_; }

 private:
  double initial_step_, rho_;
  std::vector<int> checkpoints_;
  size_t next_checkpoint_ = 0;
  int interval_start_ = 0;  // first iteration of the current interval
  std::vector<double> step_, best_, previous_, best_at_last_check_;
  std::vector<int> increases_;
  std::vector<uint8_t> halved_last_, improved_, halved_;
};

class ApgdAttack : public EvalAttack {
 public:
  ApgdAttack(AttackModel& model, ApgdConfig config);
  std::string name() const override;
  void run(const AttackBatch& batch, AttackOutcome& outcome) override;
  // Mean loss over the attacked rows at each iteration's point of the last run (for tests).
  const std::vector<double>& mean_losses() const { return mean_losses_; }

 private:
  // One run from a random start (stream `stream`) on the rows flagged in `active`.
  void run_once(const AttackBatch& batch, const std::vector<uint8_t>& active, uint64_t stream,
                AttackOutcome& outcome, std::vector<double>& best_loss);
  void random_start(const AttackBatch& batch, uint64_t stream, Tensor& x) const;

  AttackModel& model_;
  ApgdConfig config_;
  LossGradientPlan* loss_;
  std::unique_ptr<Plan> step_plan_;
  std::string next_;
  Tensor host_x_, x_best_, g_best_, host_eta_, host_alpha_;
  std::vector<double> mean_losses_;
};

}  // namespace advmoe
