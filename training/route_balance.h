// Loss-free load balancing of top-1 routers (Wang et al. 2024, "Auxiliary-Loss-Free Load
// Balancing Strategy for Mixture-of-Experts"; DeepSeek-V3's bias balancing). Every router's
// logits carry a per-expert offset, the Buffer "<router>.balance" (models/param_builder.h
// `router`). After each training step the balancer counts the step's routes and moves every
// offset by `rate` towards balance: down for an expert that took more than its share (B / E) of
// the batch, up for one that took less. The offsets are not differentiated, so the balancing adds
// no gradient that competes with the training loss; they are model state like BN statistics
// (checkpointed, used as they are in evaluation and attacks). docs/moe.md measures what it does.
#pragma once

#include <string>
#include <vector>

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
  // One balancing step from the routes the last plan run left in `variables` (`rows` samples per
  // forward).
  void update(Variables& variables, int64_t rows);

 private:
  // An offset Buffer and the routes of every forward that uses it (clean, adversarial branch).
  struct Offset {
    std::string name;
    std::vector<std::string> routes;
  };
  std::vector<Offset> offsets_;
  double rate_ = 0;
  int experts_ = 0;
  Tensor host_route_, host_offset_;
};

}  // namespace advmoe
