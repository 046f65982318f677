// What the Sparse-CNN variant (HYDRA; docs/sparse.md) needs beyond its graph: the scores'
// initialization from the weights, the default keep ratio that matches one MoE pathway, the
// masks on the host, and the compact export of a structured model as the S-Dense model it is.
#pragma once

#include <map>
#include <string>

#include "models/model.h"
#include "runtime/tensor.h"

namespace advmoe {

// HYDRA's scaled score initialization: s = sqrt(6 / fan_in) * W / max|W| (fan_in: one filter's
// or row's weights; zeros for an all-zero W).
Tensor hydra_scores(const Tensor& weight);

// The keep ratio of a sparse model that matches one MoE pathway at the same ratio r (N experts),
// and the counts behind it. Unstructured masks match parameters: keep = (the pathway's weights in
// the masked tensors) / (the dense model's). Structured masks keep r of each layer's filters,
// which is the pathway's width, so the compact model is S-Dense at r and its MACs match the
// pathway's (exactly for chain networks).
struct KeepDefault {
  double keep = 1;
  int64_t masked_weights = 0;                // weights in the dense model's masked tensors
  int64_t pathway_weights = 0;               // the same tensors' weights along one MoE pathway
  int64_t dense_macs = 0, pathway_macs = 0;  // per sample, convolutions and linear layers
};
KeepDefault default_keep(const ModelConfig& sparse, int experts);

// Host masks of a sparse model from its scores: module -> {mask (the weight's shape), filter mask}.
struct HostMask {
  Tensor mask, filter_mask;
};
std::map<std::string, HostMask> host_masks(const Model& model,
                                           const std::map<std::string, Tensor>& tensors);

// The compact model of a structured sparse model: S-Dense at ratio = keep, which has exactly the
// kept filters of every layer. Throws naming the reason for unstructured masks, width != 1 and
// architectures whose channels do not flow as a chain (residual adds, concatenations).
ModelConfig compact_config(const Model& sparse);
// The compact model's parameters and buffers from the sparse model's (host, our layout): kept
// filters of each conv (times its mask), their input channels, the BN entries and classifier
// columns of the kept channels. Throws when a shape does not come out as `compact` needs.
std::map<std::string, Tensor> compact_tensors(const Model& sparse,
                                              const std::map<std::string, Tensor>& tensors,
                                              const Model& compact);

}  // namespace advmoe
