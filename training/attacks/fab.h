// FAB-T, the targeted fast adaptive boundary attack (Croce & Hein, ICML 2020, "Minimally
// distorted adversarial examples with a fast adaptive boundary attack"), as AutoAttack runs it: for
// each target among the top-2 .. top-(n+1) clean classes, 100 iterations from the clean image.
// Each iteration one eval-mode Plan gives f = z_y - z_t and its input gradient w
// (AttackModel::loss_gradient, TargetMargin), a one-node Plan takes the step onto the linearized
// boundary (fab_step), and a forward pass checks it: a misclassified point is kept when it is the
// closest so far, then pulled back towards x0 by beta. A result counts only if its norm <= eps.
#pragma once

#include <memory>
#include <string>

#include "training/attacks/attack_model.h"
#include "training/attacks/eval_attack.h"

namespace advmoe {

struct FabConfig {
  PgdNorm norm = PgdNorm::Linf;
  double epsilon = 8.0 / 255;
  int iterations = 100;
  int target_classes = 9;
  double alpha_max = 0.1, eta = 1.05, beta = 0.9;
  RouterGradient router_gradient = RouterGradient::None;
};

class FabAttack : public EvalAttack {
 public:
  FabAttack(AttackModel& model, FabConfig config);
  std::string name() const override;
  void run(const AttackBatch& batch, AttackOutcome& outcome) override;
  // The smallest norm of a misclassified point found per row in the last run (1e10: none),
  // whether or not it is within eps (for tests: FAB is a minimum-norm attack).
  const std::vector<double>& minimum_norms() const { return minimum_norms_; }

 private:
  AttackModel& model_;
  FabConfig config_;
  LossGradientPlan* margin_;
  std::unique_ptr<Plan> step_plan_;
  std::string next_;
  Tensor closest_;  // per row the closest misclassified point found
  std::vector<double> minimum_norms_;
};

}  // namespace advmoe
