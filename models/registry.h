// Model construction by architecture name, and parameter initialization from a seed.
#pragma once

#include <cstdint>

#include "graph/variables.h"
#include "models/model.h"

namespace advmoe {

// Builds images -> logits for config.arch ("smallcnn"); throws naming unknown architectures.
Model build_model(const ModelConfig& config);

// Creates every Param and Buffer of the model in `variables` and fills it per model.inits.
// Each tensor draws from its own Philox subsequence (hash of its name), so adding a layer does
// not change the initial values of the others.
void initialize_parameters(const Model& model, Variables& variables, uint64_t seed);

}  // namespace advmoe
