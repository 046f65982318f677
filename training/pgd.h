// PGD L-infinity attack (Madry et al., 2018) as a graph program: one eval-mode Plan computes the
// attack loss's gradient w.r.t. the attacked input only (no weight-gradient kernel exists in
// it), and the program replays it K times with the step
//   x <- clip(clip(x + alpha * sign(g), x0 - eps, x0 + eps), 0, 1)
// from a uniform random start in the eps-ball, from x0 + 0.001 N(0, 1) (TRADES), or from x0.
#pragma once

#include <memory>
#include <string>

#include "graph/plan.h"
#include "models/model.h"

namespace advmoe {

struct PgdConfig {
  double epsilon = 8.0 / 255;
  double step_size = 2.0 / 255;
  int steps = 10;
  bool random_start = true;  // uniform in the ball; false: start at x0 (or see `trades_start`)
  uint64_t seed = 0;
  bool trades_start = false;  // x0 + 0.001 * N(0, 1), as TRADES starts its attack
};

class PgdAttack {
 public:
  // Cross-entropy attack on the model's "images" input (added to the graph once and reused).
  PgdAttack(Model& model, Variables& variables, PgdConfig config);
  // Attack on any scalar `loss` of `graph` w.r.t. the float Input `input` (e.g. TRADES' KL w.r.t.
  // the adversarial branch's images); the gradient is added to the graph if not there yet.
  PgdAttack(Graph& graph, Variables& variables, ValueId loss, ValueId input, PgdConfig config);

  // Host tensors of the plan's batch shape: clean images x0 in [0, 1]; writes the adversarial
  // images to `adversarial`. Whatever else the attack loss reads (labels, clean images) must
  // already be in the variables. `batch_index` keys the random start.
  void run(const Tensor& images, const Tensor& adversarial, uint64_t batch_index);
  // Cross-entropy attack convenience: also copies `labels` into the "labels" variable.
  void run(const Tensor& images, const Tensor& labels, const Tensor& adversarial,
           uint64_t batch_index);
  // The attack loss at the last step's input, for tests and logging.
  double last_loss() const { return last_loss_; }
  const Plan& plan() const { return *plan_; }

 private:
  void init(Graph& graph, ValueId loss, ValueId input);

  PgdConfig config_;
  Variables& variables_;
  std::string input_, gradient_, loss_;
  std::unique_ptr<Plan> plan_;
  Tensor host_grad_, host_loss_;
  double last_loss_ = 0;
};

}  // namespace advmoe
