// One level of a training program: a single train-mode Plan that computes a loss, the gradients
// of one parameter group and that group's SGD update (so running it is the whole optimizer
// step), plus the outputs the epoch loop scores. AdvMoE has two (routers, backbone); the other
// methods one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compile/plan.h"
#include "training/sgd.h"

namespace advmoe {

class Level {
 public:
  // `name` names the learning-rate input ("learning_rate/<name>"); `reported`: values the Plan
  // also computes (logits, routes); `lr_scale` multiplies the schedule's rate (the routers' own).
  Level(Graph& graph, Variables& variables, const std::string& name, ValueId loss,
        const std::vector<ValueId>& params, const std::vector<ValueId>& reported,
        const SgdConfig& sgd, double lr_scale = 1.0);
  // One step with the schedule's rate `lr` on the inputs already in the variables; returns the
  // loss (at the parameters before the update).
  double step(double lr);
  Plan& plan() { return *plan_; }
  const Plan& plan() const { return *plan_; }

 private:
  Variables& variables_;
  std::unique_ptr<Plan> plan_;
  std::string loss_, learning_rate_;
  double lr_scale_;
};

// Host <-> variable scalars (f32).
double read_scalar(Variables& variables, const std::string& name);
void write_scalar(Variables& variables, const std::string& name, double value);
// Copies a host batch into the "images" and "labels" variables.
void load_batch(Variables& variables, const Tensor& images, const Tensor& labels);

}  // namespace advmoe
