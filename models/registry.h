// Model construction by architecture name, and parameter initialization from a seed.
#pragma once

#include <cstdint>

#include "compile/variables.h"
#include "models/model.h"

namespace advmoe {

// Builds images -> logits for config.arch ("smallcnn"); throws naming unknown architectures.
Model build_model(const ModelConfig& config);

// A second forward of a model: its logits, and (MoE) its routers and routes.
struct Forward {
  Val logits;
  std::vector<Model::Router> routers;
  std::vector<std::pair<std::string, Val>> routes;
};

// Builds images -> logits once more on another input of the same shape, sharing every parameter
// and BN buffer of `model` (TRADES evaluates the same weights on clean and adversarial images).
// The model's own fields stay those of its first forward; only its graph grows.
Forward apply_model(Model& model, Val images);
// Internal: the architecture body on `images` (used by build_model and apply_model).
Val build_network(Model& model, Val images);

// Creates every Param and Buffer of the model in `variables` and fills it per model.inits.
// Each tensor draws from its own Philox subsequence (hash of its name), so adding a layer does
// not change the initial values of the others.
void initialize_parameters(const Model& model, Variables& variables, uint64_t seed);

}  // namespace advmoe
