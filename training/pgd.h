// PGD (Madry et al., 2018) as a graph program: one eval-mode Plan computes the attack loss's
// gradient w.r.t. the attacked input only (no weight-gradient kernel exists in it), and the
// program replays it K times with the step
//   L-inf: x <- clip(clip(x + alpha * sign(g), x0 - eps, x0 + eps), 0, 1)
//   L2:    x <- clip(x0 + project_eps(x + alpha * g / |g| - x0), 0, 1)     (per sample)
// from a uniform random start in the eps-ball, from x0 + 0.001 N(0, 1) (TRADES), or from x0; the
// start (Philox draws, the same on every backend) and the step are graph nodes (ops/attack.h).
// With several restarts each sample keeps its worst case (misclassified first, then the highest
// cross-entropy). FGSM is the one-step case: fgsm(eps).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compile/plan.h"
#include "models/model.h"

namespace advmoe {

enum class PgdNorm { Linf, L2 };
enum class PgdStart { Uniform, Trades, None };
// What the attack maximizes: the cross-entropy to the labels, or the KL divergence from the
// model's output on the clean input (TRADES' attack; needs no labels).
enum class PgdObjective { CrossEntropy, KlToClean };
// The attack gradient through an MoE router's top-1 choice. None (default): routes held fixed,
// the exact gradient of the model as it runs (routing is piecewise constant in the input).
// StraightThrough: the training surrogate, as the public AdvMoE code's attacks use it; with a
// global router it adds a term the model does not have and can mask the attack.
enum class RouterGradient { None, StraightThrough };

struct PgdConfig {
  double epsilon = 8.0 / 255;
  double step_size = 2.0 / 255;
  int steps = 10;
  PgdStart start = PgdStart::Uniform;
  uint64_t seed = 0;
  PgdNorm norm = PgdNorm::Linf;
  int restarts = 1;  // > 1 keeps each sample's worst case; needs the model-based constructor
  PgdObjective objective = PgdObjective::CrossEntropy;  // model-based constructor only
  RouterGradient router_gradient = RouterGradient::None;
};

// Fast Gradient Sign Method (Goodfellow et al., 2015): one full step of size eps from x0.
PgdConfig fgsm(double epsilon, uint64_t seed = 0);

// "linf" | "l2"; "uniform" | "trades" | "none"; "ce" | "kl": throw naming the accepted values.
PgdNorm parse_pgd_norm(const std::string& text);
PgdStart parse_pgd_start(const std::string& text);
PgdObjective parse_pgd_objective(const std::string& text);
RouterGradient parse_router_gradient(const std::string& text);  // "none" | "ste"
const char* router_gradient_name(RouterGradient r);

class PgdAttack {
 public:
  // Attack on the model's "images" input with config.objective (its part of the graph is added
  // once and reused by later attacks).
  PgdAttack(Model& model, Variables& variables, PgdConfig config);
  // Attack on any scalar `loss` of `graph` w.r.t. the float Input `input` (e.g. TRADES' KL w.r.t.
  // the adversarial branch's images); the gradient is added to the graph if not there yet.
  PgdAttack(Graph& graph, Variables& variables, ValueId loss, ValueId input, PgdConfig config);

  // Tensors of the plan's batch shape, each on the host or on the attack's backend: clean images
  // x0 in [0, 1]; writes the adversarial images to `adversarial` (the attacked input's own
  // variable costs no copy at all; with restarts > 1 it must be on the host). Whatever else the
  // attack loss reads (labels, clean images) must already be in the variables. `batch_index` keys
  // the random start.
  void run(const Tensor& images, const Tensor& adversarial, uint64_t batch_index);
  // Model-based attack: also copies `labels` into the "labels" variable (restarts score with them).
  void run(const Tensor& images, const Tensor& labels, const Tensor& adversarial,
           uint64_t batch_index);
  // The attack loss at the last step's input, and at every step's input of the last restart
  // (for tests and logging).
  double last_loss() const { return step_losses_.empty() ? 0 : step_losses_.back(); }
  const std::vector<double>& step_losses() const { return step_losses_; }
  const Plan& plan() const { return *plan_; }
  Plan& plan() { return *plan_; }  // for profiling
  const PgdConfig& config() const { return config_; }

 private:
  void init(Graph& graph, ValueId loss, ValueId input, ValueId logits);
  // KL objective: stores the model's logits on the clean images as the attack's target.
  void set_clean_target(const Tensor& images);
  // One restart: K steps from the start keyed by (batch_index, restart) into `x`.
  void attack_once(const Tensor& x0, const Tensor& x, uint64_t batch_index, int restart);
  // Copies into `best` the samples of `candidate` that are worse for the model than best's.
  void keep_worst(const Tensor& candidate, const Tensor& labels, const Tensor& best, bool first);

  PgdConfig config_;
  Variables& variables_;
  // Graph names: the attacked input, its gradient, the attack loss, the model's logits, the clean
  // logits (KL objective), the clean images x0 the step projects around, the step's output, the
  // random start's key input and output (empty for PgdStart::None).
  std::string input_, gradient_, loss_, logits_, clean_logits_, origin_, next_, key_, start_;
  std::unique_ptr<Plan> plan_, start_plan_;
  Tensor host_key_, host_logits_, candidate_;     // host
  Tensor step_losses_device_, host_step_losses_;  // the loss at each step's input
  std::vector<double> best_score_;                // per sample: wrong * 1e9 + cross-entropy
  std::vector<double> step_losses_;
};

}  // namespace advmoe
