// MoE models: GFLOPs of one pathway against the paper's table, a training step of ResNet-18 MoE
// with per-layer and global routing (router gradients arrive through the straight-through gates),
// expert usage, and the checkpoint holding each router once.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "datasets/registry.h"
#include "models/flops.h"
#include "models/registry.h"
#include "ops/basic.h"
#include "ops/linear.h"
#include "ops/losses.h"
#include "ops/moe.h"
#include "training/checkpoint.h"
#include "training/trainer.h"

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
  save_checkpoint(dir.file("moe.h5"), m, v, RunState{"cifar10", 1, 10, 5, "", {}, ""});
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

BOOST_AUTO_TEST_CASE(every_architecture_has_an_moe_variant) {
  // MoE layers per model (block convs; WRN adds its 1x1 shortcuts; VGG and SmallCNN all convs but
  // the first; DenseNet both convs of each dense layer), and a forward pass.
  std::map<std::string, size_t> layers = {{"resnet18", 16},
                                          {"wrn-28-10", 24 + 3},
                                          {"vgg16-bn", 12},
                                          {"densenet-bc-40", 2 * 18},
                                          {"smallcnn", 3}};
  auto backend = make_backend("onednn");
  for (const auto& [arch, count] : layers) {
    ModelConfig c = cifar(arch, "moe", 0.5, 2, "layer", 2);
    if (arch == "smallcnn") c.image = Shape{28, 28, 1};
    Model m = build_model(c);
    BOOST_TEST(m.routes.size() == count, arch);
    Variables v(*backend);
    initialize_parameters(m, v, 1);
    auto plan = compile(*m.graph, v, {Mode::Eval, {m.logits.id}});
    v.set("images", random_tensor(v.get("images").shape(), DType::F32, 2, 0, 1));
    plan->run();
    BOOST_TEST(std::isfinite(v.get("logits").item(3)), arch);
  }
  // Same pathway MACs as S-Dense where the first layer is r-wide too (paper's table: WRN 1.311,
  // VGG 0.079).
  BOOST_TEST(gmacs(count_macs(build_model(cifar("wrn-28-10", "moe", 0.5))).pathway) == 1.311);
  BOOST_TEST(gmacs(count_macs(build_model(cifar("vgg16-bn", "moe", 0.5))).pathway) == 0.079);
}

BOOST_AUTO_TEST_CASE(fixed_routing_takes_routes_from_an_input) {
  Model m = build_model(cifar("resnet18", "moe", 0.5, 2, "fixed", 4));
  BOOST_TEST(m.graph->has("route"));
  BOOST_TEST(m.graph->params("router").empty());
  auto backend = make_backend("onednn");
  Variables v(*backend);
  initialize_parameters(m, v, 1);
  auto plan = compile(*m.graph, v, {Mode::Eval, {m.logits.id}});
  v.set("images", random_tensor({4, 32, 32, 3}, DType::F32, 2, 0, 1));
  plan->run();
  Tensor first = v.get("logits").clone();
  for (int i = 0; i < 4; ++i) v.get("route").data<int32_t>()[i] = 1;  // other experts, other logits
  plan->run();
  BOOST_TEST(max_relative_error(v.get("logits"), first) > 1e-3);
}

BOOST_AUTO_TEST_CASE(bad_moe_options) {
  BOOST_TEST(error_of([] {
               build_model(cifar("resnet18", "moe", 0.5, 2, "sideways"));
             }).find("unknown routing 'sideways'") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(moe_training)

BOOST_AUTO_TEST_CASE(stop_gradient_is_identity_without_gradient) {
  Graph g(DType::F64);
  Val x{&g, g.input("x", {3})};
  Val loss = sum(x * x + stop_gradient(x) * x);  // d/dx = 2x + stop(x) = 3x
  g.mark_loss(loss.id, "loss");
  autodiff(g, loss.id, {x.id});
  auto backend = make_backend("reference");
  Variables v(*backend);
  auto plan = compile(g, v);
  v.set("x", random_tensor({3}, DType::F64, 9));
  plan->run();
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(v.get("grad/x").item(i) == 3 * v.get("x").item(i),
               boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(one_expert_moe_trains_like_sdense) {
  // With one expert the route is constant; the backbone must then learn exactly like S-Dense. (A
  // regression test: the straight-through gate gradient once leaked through per-layer routers
  // into the backbone and stopped SmallCNN-MoE from learning.)
  Dataset data = load_dataset("fashion-mnist", "", "train", 512);
  std::map<std::string, Tensor> params[2];
  for (int k = 0; k < 2; ++k) {
    ModelConfig c;
    c.batch = 64;
    c.variant = k == 0 ? "sdense" : "moe";
    c.ratio = 0.5;
    c.experts = 1;
    Model m = build_model(c);
    auto backend = make_backend("onednn");
    TrainConfig tc;
    tc.seed = 2;
    Trainer trainer(m, *backend, tc);
    trainer.set_total_steps(8);
    trainer.train_epoch(data, 1, nullptr);
    for (ValueId p : m.graph->params("backbone"))
      params[k][m.graph->value(p).name] = trainer.variables().get(m.graph->value(p).name).clone();
  }
  BOOST_TEST(params[0].size() == params[1].size());
  for (const auto& [name, value] : params[0])
    BOOST_TEST(max_relative_error(params[1].at(name), value) < 1e-5, name);
}

BOOST_AUTO_TEST_CASE(balance_loss_spreads_a_collapsed_router) {
  // A linear router whose bias sends every sample to expert 0; minimizing the balance loss alone
  // must move the routed fractions toward 1/2.
  Graph g(DType::F32);
  Val x{&g, g.input("x", {256, 4})};
  Val w{&g, g.param("router.weight", {2, 4}, "router")},
      b{&g, g.param("router.bias", {2}, "router")};
  Val logits = linear(x, w, b);
  Route r = top1(logits);
  g.mark_output(r.index.id, "route");
  Val loss = balance_loss(logits, r.index);
  g.mark_loss(loss.id, "loss");
  Gradients grads = autodiff(g, loss.id, {w.id, b.id});
  SgdUpdate update = add_sgd_update(g, {w.id, b.id}, grads, SgdConfig{0.9, 0, false}, "lr");
  auto backend = make_backend("onednn");
  Variables v(*backend);
  auto plan = compile(g, v, {Mode::Train, {g.find("route")}});
  auto train = compile(g, v, {Mode::Train, update.tokens});
  v.set("x", random_tensor({256, 4}, DType::F32, 1));
  v.set("router.weight", random_tensor({2, 4}, DType::F32, 2, -0.1, 0.1));
  v.get("router.bias").data<float>()[0] = 3;
  auto fraction_on_zero = [&] {
    plan->run();
    int zero = 0;
    for (int i = 0; i < 256; ++i) zero += v.get("route").item(i) == 0;
    return zero / 256.0;
  };
  BOOST_TEST(fraction_on_zero() == 1.0);
  v.get("lr").data<float>()[0] = 1.0f;
  for (int step = 0; step < 200; ++step) train->run();
  double f = fraction_on_zero();
  BOOST_TEST(f > 0.3);
  BOOST_TEST(f < 0.7);
}

BOOST_AUTO_TEST_SUITE_END()
