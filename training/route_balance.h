// Loss-free load balancing of top-1 routers (Wang et al. 2024, "Auxiliary-Loss-Free Load
// Balancing Strategy for Mixture-of-Experts"; DeepSeek-V3's bias balancing), per BN mode.
//
// Every router's logits carry a per-expert offset, the Buffer "<router>.balance"
// (models/param_builder.h `router`). After each training step the balancer moves every offset by
// `rate` towards balance: down for an expert that took more than its share of the samples, up for
// one that took less. The offsets are not differentiated, so balancing adds no gradient that
// competes with the training loss.
//
// Why two sets: in training mode BN normalizes with the batch's statistics, in evaluation mode
// with running ones, and the routers' logits shift between the two. With offsets balanced on the
// training-mode routes alone, the clean test images of a SmallCNN MoE went 95-100% to one expert
// (docs/moe.md). So the balancer keeps training-mode offsets ("<router>.balance_train", routed with
// during training steps) and evaluation-mode offsets ("<router>.balance", what evaluation, attacks
// and anyone loading the checkpoint route with), the latter balanced on the eval-mode routes of
// the same step's clean and adversarial images. Both are checkpointed, so resume is exact.
#pragma once

#include <string>
#include <vector>

#include "compile/plan.h"
#include "compile/variables.h"
#include "models/model.h"

namespace advmoe {

class RouteBalancer {
 public:
  RouteBalancer() = default;  // off
  // `rate` 0: off. Every router's route must be a plan output (mark_route_outputs; the adversarial
  // branch marks its own).
  RouteBalancer(const Model& model, double rate);

  bool active() const { return rate_ > 0 && !offsets_.empty(); }
  // Before a training iteration: route with the training-mode offsets.
  void begin_step(Variables& variables);
  // After it (`rows` samples per forward): a step for the training-mode offsets from the
  // iteration's routes; then `eval_plan` on the iteration's clean images ("images") and, when
  // the method has them, its adversarial ones ("adv_images", copied into "images"), and a step
  // for the evaluation-mode offsets, which stay in place.
  void end_step(Variables& variables, Plan& eval_plan, int64_t rows);

 private:
  struct Offset {
    std::string eval, train;          // the two Buffers
    std::string eval_route;           // the clean forward's route (what eval_plan computes)
    std::vector<std::string> routes;  // the routes of every training forward using it
    Tensor saved_eval;                // host copy while the training offsets are in place
  };
  void move(Variables& variables, const std::string& buffer, const std::vector<int64_t>& counts,
            int64_t total);

  std::vector<Offset> offsets_;
  double rate_ = 0;
  int experts_ = 0;
  Tensor host_route_, host_offset_;
};

}  // namespace advmoe
