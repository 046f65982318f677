// The programs behind `advmoe dissect` and `advmoe iou` (docs/dissection.md): every test point's
// routes and predictions, clean and under an attack, and the attacks that may move only part of
// an MoE: the pathway-only attack (routes held at each point's clean routes; the experts see
// x_adv) and the router-only attack (the routers see x_adv, the experts x, with the routes the
// routers chose; the straight-through surrogate carries the gradient through the routers).
#pragma once

#include <string>
#include <vector>

#include "compile/variables.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "training/attacks/autoattack.h"
#include "training/dissection.h"
#include "training/pgd.h"

namespace advmoe {

struct StudyAttack {
  std::string name = "pgd";  // pgd | fgsm | apgd-ce | apgd-dlr | apgd-t | fab-t | square
  PgdConfig pgd;             // pgd and fgsm; the partial attacks always run PGD with it
  CascadeConfig budget;      // the AutoAttack kinds: eps, norm, iterations, seed
};
bool is_study_attack(const std::string& name);
std::string describe(const StudyAttack& attack);

// `model` (MoE, built at the evaluation batch size, weights in `variables`): per test point, in
// order, its label, clean and adversarial prediction and routes.
std::vector<SampleRoutes> study_routes(Model& model, Variables& variables, const Dataset& test,
                                       const StudyAttack& attack);

// Robust accuracy under a PGD that may move only `part` ("pathway" or "router") of the MoE of
// `config` with the weights in `weights`; `clean` is study_routes' result on the same `test`.
double partial_attack_accuracy(const ModelConfig& config, Variables& weights, const Dataset& test,
                               const std::vector<SampleRoutes>& clean, PgdConfig pgd,
                               const std::string& part);

}  // namespace advmoe
