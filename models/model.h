// A built model: its graph (owned here, since Vals point into it), the input/label/logit values,
// and how each parameter and buffer is initialized.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"
#include "ops/moe.h"

namespace advmoe {

// ScaledFromWeight: HYDRA's score initialization from the layer's weight W (`source`),
// s = sqrt(6 / fan_in) * W / max|W| (models/sparse_model.h).
enum class InitKind { KaimingNormalFanOut, Normal, Zeros, Ones, ScaledFromWeight };

struct ParamInit {
  ParamInit(InitKind kind_ = InitKind::Zeros, double stddev_ = 0.0, std::string source_ = {})
      : kind(kind_), stddev(stddev_), source(std::move(source_)) {}
  InitKind kind;
  double stddev;       // Normal only
  std::string source;  // ScaledFromWeight only: the weight's name
};

struct ModelConfig {
  std::string arch = "smallcnn";  // smallcnn, resnet18, wrn-28-10, vgg16-bn, densenet-bc-40/100
  int64_t batch = 128;
  Shape image{28, 28, 1};  // [H, W, C]
  int classes = 10;
  double width = 1.0;  // channel multiplier; build_model sets it to r for `sdense`
  DType dtype = DType::F32;
  // dense | sdense (every width times `ratio`) | moe | sparse (dense widths, every conv and the
  // classifier masked by HYDRA's top-k of learned scores: docs/sparse.md)
  std::string variant = "dense";
  int experts = 2;  // moe: experts N per MoE layer, each r * C wide
  // moe: layer (a router per MoE conv) | global (one router network) | fixed (an Input "route"
  // gives each sample's expert: benchmarks and tests)
  std::string routing = "layer";
  double ratio = 1.0;         // r in (0, 1]
  std::string stem = "auto";  // ResNet: cifar | imagenet | auto (imagenet from 128x128 up)
  // Input normalization inside the model: none | cifar10 | cifar100 | imagenet (mean/std).
  std::string normalize = "none";
  // sparse: the share of weights (unstructured) or of output filters (structured) each masked
  // layer keeps, in (0, 1]; structured masks leave the classifier dense (pruning its rows would
  // remove classes).
  double keep = 1.0;
  std::string mask = "structured";  // sparse: structured | unstructured
  // moe, for the router/pathway dissection and the component metrics (docs/dissection.md,
  // docs/dual.md): where each MoE layer's route comes from. router: its router on the layer input
  // | input: an i32 Input "route/<module>" (routes held at given values) | router-images: the
  // routers run a full forward on "images" while the experts compute on a second Input
  // "clean_images" with those routes (attacks on "images" move the routers only: RA-R) |
  // expert-images: the routers' forward reads "clean_images", the experts compute on "images"
  // (attacks move the experts only, the route stays the clean one: RA-E).
  std::string route_source = "router";
  // Per-layer routers read the layer input through a stop_gradient in training (see moe_conv);
  // false lets an attack's surrogate gradient reach the image through the routers.
  bool detach_router_input = true;
  // moe, per-layer routers: what a router reads. pooled: the layer input's global average pool,
  // into linear + bias (the paper) | standardized: that pool standardized per channel (BN without
  // affine: batch statistics in training, running ones in evaluation), into linear without bias
  // (the balancing offset is its only bias). docs/moe.md measures why.
  std::string router_input = "pooled";
  // Data-parallel training (docs/distributed.md): train-mode batch norm sums its statistics over
  // the ranks (--sync-bn), so P ranks normalize like one process with the global batch.
  bool sync_bn = false;
};

// Architecture names build_model accepts.
const std::vector<std::string>& architectures();

struct Model {
  ModelConfig config;
  std::unique_ptr<Graph> graph;
  Val images;  // Input "images" [B, H, W, C] in [0, 1]
  Val input;   // what the network reads: the images, normalized when config.normalize asks
  Val labels;  // Input "labels" [B], i32
  Val logits;  // Output "logits" [B, classes]
  std::map<std::string, ParamInit> inits;  // every Param and Buffer by name
  Route global_route;                      // moe with global routing: the route all layers share
  // moe: every router (one per MoE conv, or the global one): its logits and chosen experts, for
  // the load-balancing loss, and its balancing offset (a Buffer [E] added to the logits).
  struct Router {
    std::string name;
    Val logits, index, offset;
  };
  std::vector<Router> routers;
  // The routers of later forwards of the same model (TRADES' adversarial branch): the same
  // parameters and offsets on other inputs.
  std::vector<Router> branch_routers;
  // moe: each MoE conv's module name and its route (expert index per sample), for usage stats.
  std::vector<std::pair<std::string, Val>> routes;
  // route_source router-images: each MoE module's route from the routers' forward, which the
  // experts' forward uses (internal to the builders).
  std::map<std::string, Route> route_override;
  // route_source router-images / expert-images: the Input "clean_images" that every evaluation
  // fills with the batch's clean images (the part of the model the attack does not move).
  Val clean_images;
  // Set while a pathway forward is built (models/registry.h apply_pathway): every MoE layer takes
  // this route and no router is built (internal to the builders).
  Val forced_route;

  // sparse: every masked layer (module name, its weight, scores, mask and filter mask), in
  // build order; structured: the conv outputs whose BN is masked by the conv's filter mask, so a
  // pruned filter's channel is exactly zero after BN (what makes the compact export exact).
  struct MaskedLayer {
    std::string module;
    Val weight, scores, mask, filter_mask;
  };
  std::vector<MaskedLayer> masked;
  std::map<ValueId, Val> channel_masks;

  // Prefixed to every parameter, buffer and module name the builders create (the dual model's
  // "std." and "rob." halves, models/dual_model.h); empty for single models.
  std::string scope;
  // The dual model F = (1 - alpha) F_std + alpha F_rob (models/dual_model.h): both halves'
  // configurations and logits. Absent for single models.
  struct Dual {
    ModelConfig standard, robust;
    double alpha = 0.7;
    Val standard_logits, robust_logits;
  };
  std::shared_ptr<Dual> dual;

  int64_t num_parameters() const;  // trainable elements (Params only)
};

}  // namespace advmoe
