// The architecture registry.
#include "models/registry.h"

#include "models/densenet.h"
#include "models/resnet.h"
#include "models/router.h"
#include "models/smallcnn.h"
#include "models/vgg.h"
#include "models/wide_resnet.h"
#include "ops/concat.h"
#include "runtime/error.h"

namespace advmoe {

const std::vector<std::string>& architectures() {
  static const std::vector<std::string> names = {"smallcnn", "resnet18",       "wrn-28-10",
                                                 "vgg16-bn", "densenet-bc-40", "densenet-bc-100"};
  return names;
}

namespace {

std::string list_architectures() {
  std::string out;
  for (const auto& a : architectures()) out += (out.empty() ? "" : ", ") + a;
  return out;
}

}  // namespace

ModelConfig resolve_model_config(ModelConfig c) {
  ADVMOE_CHECK(c.ratio > 0 && c.ratio <= 1, "model ratio r must be in (0, 1], got " << c.ratio);
  if (c.variant == "sdense" || c.variant == "moe")
    c.width = c.ratio;
  else
    ADVMOE_CHECK(
        c.variant == "dense" || c.variant == "sparse",
        "unknown model variant '" << c.variant << "' (available: dense, sdense, moe, sparse)");
  if (c.variant == "sparse") {
    ADVMOE_CHECK(c.keep > 0 && c.keep <= 1,
                 "sparse: the keep ratio k must be in (0, 1], got " << c.keep);
    ADVMOE_CHECK(c.mask == "structured" || c.mask == "unstructured",
                 "unknown mask '" << c.mask << "' (available: structured, unstructured)");
    ADVMOE_CHECK(c.width == 1,
                 "sparse: masks prune the dense model of width 1, got width " << c.width);
  }
  if (c.variant == "moe") {
    ADVMOE_CHECK(c.experts >= 1 && c.experts <= 64,
                 "moe: experts must be in [1, 64], got " << c.experts);
    ADVMOE_CHECK(c.routing == "layer" || c.routing == "global" || c.routing == "fixed",
                 "unknown routing '" << c.routing << "' (available: layer, global, fixed)");
    ADVMOE_CHECK(
        c.router_input == "pooled" || c.router_input == "standardized",
        "unknown router input '" << c.router_input << "' (available: pooled, standardized)");
    ADVMOE_CHECK(c.route_source == "router" || c.route_source == "input" ||
                     c.route_source == "router-images" || c.route_source == "expert-images",
                 "unknown route source '"
                     << c.route_source
                     << "' (available: router, input, router-images, expert-images)");
  }
  if (c.stem == "auto") c.stem = c.image.rank() == 3 && c.image[0] >= 128 ? "imagenet" : "cifar";
  ADVMOE_CHECK(c.stem == "cifar" || c.stem == "imagenet",
               "unknown stem '" << c.stem << "' (available: cifar, imagenet, auto)");
  return c;
}

namespace {

// (x - mean) / std per channel, with the usual dataset statistics.
Val normalized(Val images, const std::string& stats) {
  if (stats == "none") return images;
  std::vector<double> mean, stddev;
  if (stats == "cifar10") {
    mean = {0.4914, 0.4822, 0.4465};
    stddev = {0.2471, 0.2435, 0.2616};
  } else if (stats == "cifar100") {
    mean = {0.5071, 0.4865, 0.4409};
    stddev = {0.2673, 0.2564, 0.2762};
  } else if (stats == "imagenet") {
    mean = {0.485, 0.456, 0.406};
    stddev = {0.229, 0.224, 0.225};
  } else {
    ADVMOE_FAIL("unknown normalization '" << stats
                                          << "' (available: none, cifar10, cifar100, imagenet)");
  }
  ADVMOE_CHECK(images.shape()[3] == 3,
               "normalization '" << stats << "' needs 3-channel images, got " << images.shape());
  std::vector<double> scale, shift;
  for (size_t c = 0; c < 3; ++c) {
    scale.push_back(1.0 / stddev[c]);
    shift.push_back(-mean[c] / stddev[c]);
  }
  return channel_affine(images, scale, shift, "normalize");
}

}  // namespace

Model build_model(const ModelConfig& requested) {
  ModelConfig config = resolve_model_config(requested);
  Model model;
  model.config = config;
  model.graph = std::make_unique<Graph>(config.dtype);
  Graph& g = *model.graph;
  const Shape& s = config.image;
  ADVMOE_CHECK(s.rank() == 3, "model input must be [H, W, C], got " << s);
  model.images = {&g, g.input("images", Shape{config.batch, s[0], s[1], s[2]})};
  model.labels = {&g, g.input("labels", Shape{config.batch}, DType::I32)};
  // Fixed routing: the caller feeds every sample's expert (benchmarks, tests); no router, no gate.
  if (config.variant == "moe" && config.routing == "fixed")
    model.global_route.index = {&g, g.input("route", Shape{config.batch}, DType::I32)};
  const bool split = config.variant == "moe" && (config.route_source == "router-images" ||
                                                 config.route_source == "expert-images");
  if (split) {
    // Two forwards: the routers' (its logits unused) chooses every MoE layer's route, the
    // experts' computes with those routes. The attack moves "images"; "clean_images" holds the
    // batch's clean images for the other forward.
    model.clean_images = {&g, g.input("clean_images", model.images.shape())};
    const bool attack_routers = config.route_source == "router-images";
    build_network(model, attack_routers ? model.images : model.clean_images);
    for (size_t i = 0; i < model.routes.size(); ++i) {
      const std::string& module = model.routes[i].first;
      Route r{model.routes[i].second, {}};
      for (const Node& n : g.nodes())  // the gate top1 emitted next to the index
        if (n.op == Op::Top1 && n.outputs[0] == r.index.id) r.gate = {&g, n.outputs[1]};
      model.route_override[module] = r;
    }
    model.routes.clear();
    model.input = Val{};
    model.logits = build_network(model, attack_routers ? model.clean_images : model.images);
  } else {
    model.logits = build_network(model, model.images);
  }
  ADVMOE_CHECK(config.variant != "moe" || !model.routes.empty(),
               "variant moe found no MoE layers in " << config.arch);
  g.mark_output(model.logits.id, "logits");
  return model;
}

Val build_network(Model& model, Val images) {
  const ModelConfig& config = model.config;
  model.input = normalized(images, config.normalize);
  if (config.variant == "moe" && config.routing == "global" && config.route_source == "router" &&
      model.route_override.empty() && !model.forced_route.valid())
    model.global_route = build_global_router(model);
  const std::string& a = config.arch;
  if (a == "smallcnn") return build_smallcnn(model);
  if (a == "resnet18") return build_resnet18(model);
  if (a == "wrn-28-10") return build_wide_resnet(model, 28, 10);
  if (a == "vgg16-bn") return build_vgg16_bn(model);
  if (a == "densenet-bc-40") return build_densenet_bc(model, 40, 12);
  if (a == "densenet-bc-100") return build_densenet_bc(model, 100, 12);
  ADVMOE_FAIL("unknown architecture '" << a << "' (available: " << list_architectures() << ")");
}

Forward apply_pathway(Model& model, Val images, Val route) {
  ADVMOE_CHECK(model.config.variant == "moe",
               "a pathway forward needs an MoE model, got variant " << model.config.variant);
  ADVMOE_CHECK(route.shape() == Shape{model.images.shape()[0]} && route.info().dtype == DType::I32,
               "apply_pathway: the route must be i32 [" << model.images.shape()[0] << "], got "
                                                        << route.shape());
  model.forced_route = route;
  Forward forward = apply_model(model, images);
  model.forced_route = Val{};
  return forward;
}

Forward apply_model(Model& model, Val images) {
  ADVMOE_CHECK(images.shape() == model.images.shape(),
               "apply_model: input " << images.shape() << " differs from the model's "
                                     << model.images.shape());
  // The builders write into the model (its input, global route, routers and routes); the second
  // forward's go to the result and the model keeps its first forward's.
  Val input = model.input;
  Route route = model.global_route;
  const size_t routers = model.routers.size(), routes = model.routes.size();
  Forward forward;
  forward.logits = build_network(model, images);
  forward.routers.assign(model.routers.begin() + static_cast<std::ptrdiff_t>(routers),
                         model.routers.end());
  forward.routes.assign(model.routes.begin() + static_cast<std::ptrdiff_t>(routes),
                        model.routes.end());
  model.routers.resize(routers);
  model.routes.resize(routes);
  model.input = input;
  model.global_route = route;
  return forward;
}

}  // namespace advmoe
