// The PGD step as a graph node, so an attack's whole loop body (forward, input gradient, step)
// runs on the Plan's backend and the adversarial images never leave the device:
//   L-inf: x' = clip(clip(x + alpha * sign(g), x0 - eps, x0 + eps), 0, 1)
//   L2:    x' = clip(x0 + project_eps(x + alpha * g / |g| - x0), 0, 1)     (per sample; a zero
//          gradient leaves the sample where it is)
// x, x0 and g share one shape [N, ...]; the node is not differentiable.
#pragma once

#include <string>

#include "graph/graph.h"

namespace advmoe {

Val pgd_step(Val x, Val x0, Val gradient, double epsilon, double step_size, bool l2,
             const std::string& name = "");

}  // namespace advmoe
