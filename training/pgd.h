// PGD L-infinity attack (Madry et al., 2018) as a graph program: one eval-mode Plan computes the
// cross-entropy's gradient w.r.t. the input image only (no weight-gradient kernel exists in it),
// and the program replays it K times with the step
//   x <- clip(clip(x + alpha * sign(g), x0 - eps, x0 + eps), 0, 1)
// from a uniform random start in the eps-ball (or from x0). Restarts, L2, TRADES' KL objective
// and the CLI come with the adversarial-training issue.
#pragma once

#include <memory>

#include "graph/plan.h"
#include "models/model.h"

namespace advmoe {

struct PgdConfig {
  double epsilon = 8.0 / 255;
  double step_size = 2.0 / 255;
  int steps = 10;
  bool random_start = true;
  uint64_t seed = 0;
};

class PgdAttack {
 public:
  // Adds the attack's loss and the input gradient to model.graph and compiles their Plan on
  // `variables` (shared with the model's other Plans).
  PgdAttack(Model& model, Variables& variables, PgdConfig config);

  // Host tensors of the plan's batch shape: clean images x0 in [0, 1] and labels; writes the
  // adversarial images to `adversarial`. `batch_index` keys the random start.
  void run(const Tensor& images, const Tensor& labels, const Tensor& adversarial,
           uint64_t batch_index);
  // The attack loss (mean cross-entropy) of the last step's input, for tests and logging.
  double last_loss() const { return last_loss_; }
  const Plan& plan() const { return *plan_; }

 private:
  PgdConfig config_;
  Variables& variables_;
  std::unique_ptr<Plan> plan_;
  Tensor host_grad_, host_loss_;
  double last_loss_ = 0;
};

}  // namespace advmoe
