// Model construction by architecture name, and parameter initialization from a seed.
#pragma once

#include <cstdint>

#include "compile/variables.h"
#include "models/model.h"

namespace advmoe {

// Builds images -> logits for config.arch ("smallcnn"); throws naming unknown architectures.
Model build_model(const ModelConfig& config);

// Builds images -> logits once more on another input of the same shape, sharing every parameter
// and BN buffer of `model` (TRADES evaluates the same weights on clean and adversarial images).
Val apply_model(Model& model, Val images);
// Internal: the architecture body on `images` (used by build_model and apply_model).
Val build_network(Model& model, Val images);

// Creates every Param and Buffer of the model in `variables` and fills it per model.inits.
// Each tensor draws from its own Philox subsequence (hash of its name), so adding a layer does
// not change the initial values of the others.
void initialize_parameters(const Model& model, Variables& variables, uint64_t seed);

}  // namespace advmoe
