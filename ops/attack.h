// The PGD step as a graph node, so an attack's whole loop body (forward, input gradient, step)
// runs on the Plan's backend and the adversarial images never leave the device:
//   L-inf: x' = clip(clip(x + alpha * sign(g), x0 - eps, x0 + eps), 0, 1)
//   L2:    x' = clip(x0 + project_eps(x + alpha * g / |g| - x0), 0, 1)     (per sample; a zero
//          gradient leaves the sample where it is)
// x, x0 and g share one shape [N, ...]; the nodes are not differentiable.
#pragma once

#include <string>

#include "graph/attrs.h"
#include "graph/graph.h"

namespace advmoe {

Val pgd_step(Val x, Val x0, Val gradient, double epsilon, double step_size, bool l2,
             const std::string& name = "");

// The random start, clipped to [0, 1]: L-inf x0 + U(-eps, eps) per element; L2 x0 + eps * u * d
// with d a normalized N(0, I) direction and u ~ U(0, 1) per sample; TRADES x0 + 0.001 N(0, 1).
// `key` (i32 [2], the low and high words of the Philox subsequence) selects the draws, so one
// compiled node serves every batch and restart; element i of the batch uses draw i (for L2 the
// radius of sample s uses uniform draw numel + s), as RandomStream(seed, key) would.
Val pgd_start(Val x0, Val key, const PgdStartAttrs& attrs, const std::string& name = "");

// APGD's step (ApgdStepAttrs): x, x_prev, x0, gradient share one shape [N, ...]; eta is the
// per-sample step size [N] and alpha the momentum weight, a scalar input (1 on the first step,
// 0.75 after), so one compiled node serves every iteration.
Val apgd_step(Val x, Val x_prev, Val x0, Val gradient, Val eta, Val alpha, double epsilon, bool l2,
              const std::string& name = "");

// FAB's step (FabStepAttrs): x, x0 and w (the gradient of f = z_y - z_t at x) share one shape
// [N, ...]; f [N] is the decision function's value at x, so the boundary's linearization at x is
// {z : w . z = w . x - f}.
Val fab_step(Val x, Val x0, Val w, Val f, const FabStepAttrs& attrs, const std::string& name = "");

}  // namespace advmoe
