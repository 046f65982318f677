// A training method as a program object: it builds its losses, attacks and Levels on the model's
// graph once, then takes one optimizer iteration per call on the batches it is given. The run
// loop (training/trainer.h) draws the batches and owns the schedule; the method owns nothing but
// its Plans. The five methods (training/methods/methods.h):
//   standard  minimize CE(f(x), y) (+ the MoE balance loss);
//   pgd-at    (Madry) minimize CE(f(x'), y), x' = PGD-K on CE from a uniform start;
//   trades    (Zhang et al.) minimize CE(f(x), y) + beta * KL(f(x) || f(x')), x' = PGD-K on the KL
//             from x + 0.001 N(0, 1); the clean branch is not detached;
//   advmoe paper (AdvMoE, Algorithm 1): two batches per iteration; on B_phi a fresh attack and a
//             router step on the TRADES loss with the backbone fixed, then on B_psi a fresh attack
//             and a backbone step with the routers fixed. One epoch = one pass of B_psi;
//   rt-er     (Zhang et al., ICML 2025) minimize CE(f(x'), y) + beta * (1/B) sum_e KL(p_e(x) ||
//             p_e(x'_e)), x' = PGD-K on CE, x'_e = PGD-K on CE against pathway e for the samples
//             whose second routing choice is e (training/methods/rt_er.cpp);
//   jtdmoe    (the same paper) on the dual model: the robust half on CE(F_rob(x'), y) + beta *
//             (1/B) sum over all experts of the pathway KL, then the standard half on the dual
//             output's clean CE, each with the other frozen (training/methods/jtdmoe.cpp);
//   advmoe reference-code (the paper's public code): a global router and ONE batch per
//             iteration: a backbone step on TRADES whose attack also maximizes the routers' KL,
//             then a fresh attack and a router step on alpha * CE(r(x), y mod N) + beta * KL.
// Attacks run in eval mode (BN running statistics); training steps in train mode.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compile/plan.h"
#include "models/model.h"
#include "training/pgd.h"
#include "training/sgd.h"

namespace advmoe {

enum class Method { Standard, PgdAt, Trades, AdvMoe, RtEr, Jtdmoe };
enum class AdvMoePreset { Paper, ReferenceCode };

// "standard" | "pgd-at" | "trades" | "advmoe" | "rt-er" | "jtdmoe"; "paper" | "reference-code":
// throw naming the accepted values.
Method parse_method(const std::string& text);
AdvMoePreset parse_advmoe_preset(const std::string& text);
const char* method_name(Method method);

struct MethodConfig {
  Method method = Method::Standard;
  double epsilon = 8.0 / 255;  // the training attack's L-inf radius
  int steps = 2;               // attack steps K during training
  double step_size = 0;        // 0: 2.5 * epsilon / K (TRADES' rule; PGD-AT uses the same)
  double beta = 6.0;           // TRADES weight of the KL term
  AdvMoePreset preset = AdvMoePreset::Paper;
  double router_lr_scale = 1;     // advmoe: the routers' learning rate / the backbone's
  double router_ce_weight = 6.0;  // reference-code: alpha of CE(r(x), y mod N)
  // The training attack's gradient through top-1 routers (training/pgd.h): routes held fixed by
  // default; the straight-through surrogate on request (the public code's attacks).
  RouterGradient router_gradient = RouterGradient::None;
  double balance_loss = 0;  // MoE: weight of the load-balancing loss per router (0: off)
  SgdConfig sgd;
  uint64_t seed = 0;  // of the attacks' random starts
  // standard, pgd-at, trades: the parameter groups trained ("backbone", "router", "scores");
  // empty: all. The others stay as they are (the dissection protocol, HYDRA's prune and finetune
  // phases). BN running statistics still follow the batches in train mode.
  std::vector<std::string> train_groups;
};

// One training batch in host memory, in the model's batch shape.
struct HostBatch {
  Tensor images;  // f32 [B, H, W, C] in [0, 1]
  Tensor labels;  // i32 [B]
};

class TrainingMethod {
 public:
  virtual ~TrainingMethod() = default;
  // Batches one iteration consumes: 1, or 2 for AdvMoE's paper preset (B_psi, then B_phi).
  virtual int batches_per_iteration() const { return 1; }
  // One iteration on `batches` with the schedule's learning rate `lr`; `key` keys the attacks'
  // random starts. Calls `check` with each level's loss as soon as it is known (it throws on a
  // non-finite loss) and returns the loss the epoch reports, that of the Plan scored_plan() names.
  virtual double iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                         const std::function<void(double)>& check) = 0;
  // The Plan whose logits and routes, on batches[0], the epoch loop scores after an iteration.
  virtual Plan& scored_plan() = 0;
};

// Builds `config.method` on `model`'s graph (adding its losses, gradients and updates) with its
// Plans over `variables`. Throws naming the problem for a model the method cannot train.
std::unique_ptr<TrainingMethod> make_training_method(Model& model, Variables& variables,
                                                     const MethodConfig& config);

}  // namespace advmoe
