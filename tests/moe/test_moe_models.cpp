// MoE models: GFLOPs of one pathway against the paper's table, a training step of ResNet-18 MoE
// with per-layer and global routing (router gradients arrive through the straight-through gates),
// expert usage, and the checkpoint holding each router once.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "../helpers.h"
#include "graph/autodiff.h"
#include "graph/plan.h"
#include "models/flops.h"
#include "models/registry.h"
#include "ops/backends.h"
#include "ops/losses.h"
#include "training/checkpoint.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

ModelConfig cifar(const std::string& arch, const std::string& variant, double r, int experts = 2,
                  const std::string& routing = "layer", int64_t batch = 1) {
  ModelConfig c;
  c.arch = arch;
  c.batch = batch;
  c.image = Shape{32, 32, 3};
  c.variant = variant;
  c.ratio = r;
  c.experts = experts;
  c.routing = routing;
  return c;
}

double gmacs(int64_t macs) {
  return std::round(macs / 1e6) / 1e3;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(moe_models)

BOOST_AUTO_TEST_CASE(gmacs_match_the_paper_table) {
  auto pathway = [](const ModelConfig& c) { return gmacs(count_macs(build_model(c)).pathway); };
  BOOST_TEST(pathway(cifar("resnet18", "dense", 1)) == 0.555);
  BOOST_TEST(pathway(cifar("resnet18", "sdense", 0.5)) == 0.139);
  MacCount moe = count_macs(build_model(cifar("resnet18", "moe", 0.5, 2, "global")));
  BOOST_TEST(gmacs(moe.pathway) == 0.152);
  BOOST_TEST(gmacs(moe.router) == 0.041);
  // Per-layer routers cost almost nothing: a linear layer on pooled features per MoE conv.
  BOOST_TEST(count_macs(build_model(cifar("resnet18", "moe", 0.5, 2, "layer"))).router < 100000);
  BOOST_TEST(pathway(cifar("wrn-28-10", "dense", 1)) == 5.243);
  BOOST_TEST(pathway(cifar("wrn-28-10", "sdense", 0.5)) == 1.311);
  BOOST_TEST(pathway(cifar("vgg16-bn", "sdense", 0.5)) == 0.079);
  // The number of experts changes parameters, not the pathway.
  BOOST_TEST(count_macs(build_model(cifar("resnet18", "moe", 0.5, 8))).pathway ==
             count_macs(build_model(cifar("resnet18", "moe", 0.5, 2))).pathway);
}

BOOST_AUTO_TEST_CASE(resnet18_moe_trains_a_step_and_routes_reach_the_routers) {
  for (const char* routing : {"layer", "global"}) {
    Model m = build_model(cifar("resnet18", "moe", 0.25, 2, routing, 8));
    Graph& g = *m.graph;
    BOOST_TEST(m.routes.size() == 16u);  // two MoE convs in each of the eight blocks
    if (std::string(routing) == "global")
      for (const auto& [layer, route] : m.routes)
        BOOST_TEST(route.id == m.global_route.index.id, layer);
    std::vector<ValueId> router = g.params("router");
    BOOST_TEST(!router.empty());
    Val loss = softmax_cross_entropy(m.logits, m.labels);
    g.mark_loss(loss.id, "loss");
    // Route values to read back (with global routing all layers share one).
    std::vector<std::string> route_names;
    for (const auto& [layer, route] : m.routes) {
      if (g.value(route.id).role == Role::Intermediate) g.mark_output(route.id, "route/" + layer);
      route_names.push_back(g.value(route.id).name);
    }
    autodiff(g, loss.id, g.params());
    auto backend = make_backend("onednn");
    Variables v(*backend);
    initialize_parameters(m, v, 3);
    auto plan = compile(g, v);
    v.set("images", random_tensor({8, 32, 32, 3}, DType::F32, 4, 0, 1));
    for (int i = 0; i < 8; ++i) v.get("labels").data<int32_t>()[i] = i % 10;
    plan->run();
    BOOST_TEST(std::isfinite(v.get("loss").item(0)));
    // Every router parameter gets a gradient through the straight-through gates.
    double router_norm = 0;
    for (ValueId p : router) {
      const Tensor& grad = v.get(grad_name(g.value(p).name));
      for (int64_t k = 0; k < grad.numel(); ++k) router_norm += grad.item(k) * grad.item(k);
    }
    BOOST_TEST(router_norm > 0, routing);
    // Usage: each layer routes all 8 samples to valid experts.
    for (const std::string& name : route_names) {
      const Tensor& r = v.get(name);
      int counts[2] = {0, 0};
      for (int64_t k = 0; k < 8; ++k) counts[static_cast<int>(r.item(k))]++;
      BOOST_TEST(counts[0] + counts[1] == 8);
    }
  }
}

BOOST_AUTO_TEST_CASE(moe_checkpoint_round_trip_stores_routers_once) {
  TempDir dir;
  Model m = build_model(cifar("resnet18", "moe", 0.5, 4, "layer", 2));
  auto backend = make_backend("onednn");
  Variables v(*backend);
  initialize_parameters(m, v, 5);
  save_checkpoint(dir.file("moe.h5"), m, v, RunState{"cifar10", 1, 10, 5, "", {}});
  CheckpointHeader h = read_checkpoint_header(dir.file("moe.h5"));
  BOOST_TEST(h.model.variant == "moe");
  BOOST_TEST(h.model.experts == 4);
  BOOST_TEST(h.model.routing == "layer");
  Model again = build_model(h.model);
  Variables loaded(*backend);
  load_checkpoint_tensors(dir.file("moe.h5"), again, loaded, false);
  const char* names[] = {"layer1.0.conv1.weight", "layer1.0.conv1.router.weight",
                         "layer4.1.conv2.router.bias"};
  for (const char* name : names)
    BOOST_TEST(std::memcmp(loaded.get(name).raw(), v.get(name).raw(), v.get(name).bytes()) == 0,
               name);
  BOOST_TEST(loaded.get("layer1.0.conv1.weight").shape() == (Shape{4 * 32, 3, 3, 64}));
}

BOOST_AUTO_TEST_CASE(moe_is_refused_where_not_built_yet) {
  BOOST_TEST(error_of([] {
               build_model(cifar("vgg16-bn", "moe", 0.5));
             }).find("not available for vgg16-bn") != std::string::npos);
  BOOST_TEST(error_of([] {
               build_model(cifar("resnet18", "moe", 0.5, 2, "sideways"));
             }).find("unknown routing 'sideways'") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
