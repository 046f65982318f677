// The dual model of Zhang et al. (ICML 2025, "Optimizing Robustness and Accuracy in Mixture of
// Experts: A Dual-Model Approach"): a standard and a robust model on the same input, their logits
// combined as F(x) = (1 - alpha) F_std(x) + alpha F_rob(x). Both halves live in one graph, their
// names prefixed "std." and "rob.", so every attack differentiates the combination end to end and
// JTDMoE trains either half with the other frozen (docs/dual.md).
#pragma once

#include <string>

#include "models/model.h"
#include "models/registry.h"

namespace advmoe {

// The halves' name prefixes.
inline const std::string kStandardScope = "std.";
inline const std::string kRobustScope = "rob.";

// Builds the dual model: "images" -> both halves -> "logits" = (1 - alpha) z_std + alpha z_rob.
// The halves may differ in architecture and variant but must agree on the input shape and class
// count (and the expert count when both are MoE); the batch is `standard`'s. Throws naming the
// mismatch, or an alpha outside [0, 1]. model.config is the robust half's (the standard one's
// when only it is an MoE); model.routers and model.routes list both halves'.
Model build_dual_model(const ModelConfig& standard, const ModelConfig& robust, double alpha);

// One more forward of one half ("std." or "rob.") of a dual model on `images`, sharing its
// parameters: apply_model, or apply_pathway when `route` is given.
Forward apply_half(Model& dual, const std::string& scope, Val images, Val route = Val{});

// Throws unless alpha is a number in [0, 1].
void check_alpha(double alpha);

}  // namespace advmoe
