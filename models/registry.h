// Model construction by architecture name, and parameter initialization from a seed.
#pragma once

#include <cstdint>

#include "compile/variables.h"
#include "models/model.h"

namespace advmoe {

// Fills the derived fields (width from variant and ratio, the ResNet stem) and checks values.
ModelConfig resolve_model_config(ModelConfig config);

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
// Pathway `route` of an MoE: the same network on `images` with every MoE layer computing the
// expert `route` names per sample (i32 [B]), no router and no gate. With global routing this is
// exactly the model with its router's choice replaced; with per-layer routing, pathway e is the
// network that uses expert e at every MoE layer (docs/dual.md: "an expert").
Forward apply_pathway(Model& model, Val images, Val route);
// Internal: the architecture body on `images` (used by build_model and apply_model).
Val build_network(Model& model, Val images);

// Creates every Param and Buffer of the model in `variables` and fills it per model.inits.
// Each tensor draws from its own Philox subsequence (hash of its name), so adding a layer does
// not change the initial values of the others.
void initialize_parameters(const Model& model, Variables& variables, uint64_t seed);

// Every Param and Buffer of `model`, by name, from `from` into `to` under `to_prefix` (a model
// rebuilt with another route source; one half of a dual model), copied.
void copy_parameters_and_buffers(const Model& model, const Variables& from, Variables& to,
                                 const std::string& to_prefix = "");

}  // namespace advmoe
