// The analyses of issue 14 by hand: the dissection categories and per-layer counts, pathway IoU
// and its summaries; the route sources the partial attacks build on (fed routes and the
// router-images split reproduce the model when fed its own routes and images); training with
// frozen groups (bitwise unchanged) for the dissection protocol and HYDRA's phases; init-from.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>

#include "../helpers.h"
#include "backends/backends.h"
#include "datasets/batcher.h"
#include "datasets/registry.h"
#include "group_snapshot.h"
#include "models/registry.h"
#include "models/sparse_model.h"
#include "training/checkpoint.h"
#include "training/dissection.h"
#include "training/methods/methods.h"
#include "training/trainer.h"

using namespace advmoe;
using namespace advmoe::testing;

BOOST_AUTO_TEST_SUITE(dissection)

BOOST_AUTO_TEST_CASE(categories_of_constructed_samples) {
  // label, clean / adversarial prediction, clean / adversarial routes of 2 layers.
  std::vector<SampleRoutes> s = {
      {3, 3, 3, {0, 1}, {0, 1}},  // (1) nothing changed
      {3, 3, 3, {0, 1}, {1, 1}},  // (2) layer 0 switched, still correct
      {3, 3, 5, {0, 1}, {0, 1}},  // (3) wrong, same routes
      {3, 3, 5, {0, 1}, {0, 0}},  // (4) layer 1 switched and wrong
      {2, 4, 4, {1, 1}, {0, 0}},  // (4) misclassified clean counts as fooled prediction
      {2, 2, 2, {1, 0}, {1, 0}},  // (1)
  };
  const int expected[6] = {1, 2, 3, 4, 4, 1};
  for (size_t i = 0; i < s.size(); ++i) BOOST_TEST(dissection_category(s[i]) == expected[i]);
  DissectionCounts c = dissect(s, 2);
  BOOST_TEST(c.samples == 6);
  BOOST_TEST(c.category[0] == 2);
  BOOST_TEST(c.category[1] == 1);
  BOOST_TEST(c.category[2] == 1);
  BOOST_TEST(c.category[3] == 2);
  BOOST_TEST(c.layer_changed == (std::vector<int64_t>{2, 2}), boost::test_tools::per_element());
  BOOST_TEST(c.router_robustness() == 3.0 / 6, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(c.predictor_robustness() == 3.0 / 6, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(error_of([&] { dissect(s, 3); }).find("expected 3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(pathway_iou_of_hand_built_pathways) {
  // Layer 0: experts of 2 channels; layer 1: of 3. Same experts: IoU 1.
  std::vector<LayerChannels> a = {expert_channels(0, 2), expert_channels(1, 3)};
  BOOST_TEST(a[1] == (LayerChannels{3, 4, 5}), boost::test_tools::per_element());
  BOOST_TEST(pathway_iou(a, a) == 1.0);
  // Layer 1 switched: intersection 2 + 0, union 2 + 6.
  std::vector<LayerChannels> b = {expert_channels(0, 2), expert_channels(0, 3)};
  BOOST_TEST(pathway_iou(a, b) == 2.0 / 8, boost::test_tools::tolerance(1e-12));
  // Against a static mask of kept filters {1, 2} and {0, 3, 5}: (1 + 2) / (3 + 4).
  std::vector<LayerChannels> mask = {{1, 2}, {0, 3, 5}};
  BOOST_TEST(pathway_iou(a, mask) == 3.0 / 7, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(pathway_iou({{}}, {{}}) == 1.0);
}

BOOST_AUTO_TEST_CASE(summary_mean_median_share_at_one_and_histogram) {
  Summary s = summarize({1.0, 0.25, 0.5, 1.0}, 4);
  BOOST_TEST(s.mean == 0.6875, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.median == 0.75, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.at_one == 0.5);
  BOOST_TEST(s.histogram == (std::vector<int64_t>{0, 1, 1, 2}), boost::test_tools::per_element());
}

namespace {

ModelConfig small_moe() {
  ModelConfig c;
  c.batch = 8;
  c.variant = "moe";
  c.ratio = 0.5;
  return c;
}

// Logits and (unless fed) routes of `config`'s model in eval mode with the parameters and buffers
// of `weights` and the `extra` inputs.
std::pair<Tensor, std::vector<Tensor>> forward(const ModelConfig& config, Variables& weights,
                                               const std::map<std::string, Tensor>& extra) {
  Model m = build_model(config);
  auto backend = make_backend("onednn");
  Variables v(*backend);
  for (ValueId id = 0; id < m.graph->num_values(); ++id) {
    const ValueInfo& info = m.graph->value(id);
    if (info.role == Role::Param || info.role == Role::Buffer)
      v.set(info.name, weights.get(info.name));
  }
  for (const auto& [name, t] : extra) v.set(name, t);
  CompileOptions options{Mode::Eval, {m.logits.id}};
  const bool fed = config.route_source == "input";  // routes are inputs then, not outputs
  for (size_t i = 0; i < m.routes.size() && !fed; ++i) {
    m.graph->mark_output(m.routes[i].second.id, "route_out/" + std::to_string(i));
    options.targets.push_back(m.routes[i].second.id);
  }
  auto plan = compile(*m.graph, v, options);
  plan->run();
  std::vector<Tensor> routes;
  for (size_t i = 0; i < m.routes.size() && !fed; ++i)
    routes.push_back(v.get("route_out/" + std::to_string(i)).clone());
  return {v.get("logits").clone(), routes};
}

}  // namespace

BOOST_AUTO_TEST_CASE(route_sources_reproduce_the_model_on_its_own_routes_and_images) {
  Model m = build_model(small_moe());
  auto backend = make_backend("reference");
  Variables weights(*backend);
  initialize_parameters(m, weights, 5);
  Tensor images = random_tensor({8, 28, 28, 1}, DType::F32, 6, 0, 1);
  auto [logits, routes] = forward(small_moe(), weights, {{"images", images}});
  // Routes fed as inputs: the same logits.
  ModelConfig fed = small_moe();
  fed.route_source = "input";
  std::map<std::string, Tensor> extra{{"images", images}};
  for (size_t i = 0; i < m.routes.size(); ++i)
    extra["route/" + m.routes[i].first] = routes[i].clone();
  BOOST_TEST(max_relative_error(forward(fed, weights, extra).first, logits, 1e-3) < 1e-5);
  // Feeding other routes changes them.
  for (auto& [name, t] : extra)
    if (name.rfind("route/", 0) == 0)
      for (int64_t s = 0; s < 8; ++s) t.data<int32_t>()[s] = 1 - t.data<int32_t>()[s];
  BOOST_TEST(max_relative_error(forward(fed, weights, extra).first, logits, 1e-3) > 1e-3);
  // Routers on "images", experts on "clean_images": the same image in both gives the same logits
  // and routes; another image for the routers keeps the experts' input but changes routes.
  ModelConfig split = small_moe();
  split.route_source = "router-images";
  split.detach_router_input = false;
  auto same = forward(split, weights, {{"images", images}, {"clean_images", images}});
  BOOST_TEST(max_relative_error(same.first, logits, 1e-3) < 1e-5);
  for (size_t i = 0; i < routes.size(); ++i) BOOST_TEST(same_bytes(same.second[i], routes[i]));
  // Routers on "clean_images", experts on "images" (RA-E): with the same image the model itself;
  // with another image in "images" the routes never change (they are the clean image's) while
  // the logits do.
  ModelConfig experts = small_moe();
  experts.route_source = "expert-images";
  auto clean = forward(experts, weights, {{"images", images}, {"clean_images", images}});
  BOOST_TEST(max_relative_error(clean.first, logits, 1e-3) < 1e-5);
  Tensor other = random_tensor({8, 28, 28, 1}, DType::F32, 7, 0, 1);
  auto moved = forward(experts, weights, {{"images", other}, {"clean_images", images}});
  for (size_t i = 0; i < routes.size(); ++i) BOOST_TEST(same_bytes(moved.second[i], routes[i]));
  BOOST_TEST(max_relative_error(moved.first, logits, 1e-3) > 1e-3);
  // ... and they equal the model with the routes fed as inputs on that other image.
  std::map<std::string, Tensor> fed_other{{"images", other}};
  for (size_t i = 0; i < m.routes.size(); ++i)
    fed_other["route/" + m.routes[i].first] = routes[i].clone();
  BOOST_TEST(max_relative_error(forward(fed, weights, fed_other).first, moved.first, 1e-3) < 1e-5);
  // The router-only split with clean experts: its experts' input is x whatever "images" holds,
  // so with the clean routes (same image) the logits are the clean model's.
  auto router_moved = forward(split, weights, {{"images", other}, {"clean_images", images}});
  std::map<std::string, Tensor> fed_clean{{"images", images}};
  for (size_t i = 0; i < m.routes.size(); ++i)
    fed_clean["route/" + m.routes[i].first] = router_moved.second[i].clone();
  BOOST_TEST(max_relative_error(forward(fed, weights, fed_clean).first, router_moved.first, 1e-3) <
             1e-5);
}

namespace {

Dataset& tiny_data() {
  static Dataset data = load_dataset("fashion-mnist", "", "train", 64);
  return data;
}

// Two standard-training steps on `config`'s model training only `groups`; returns whether each of
// `watched` groups changed.
std::map<std::string, bool> train_groups(const ModelConfig& config,
                                         const std::vector<std::string>& groups,
                                         const std::vector<std::string>& watched) {
  Model m = build_model(config);
  auto backend = make_backend("onednn");
  MethodConfig method;
  method.train_groups = groups;
  Trainer trainer(m, *backend, TrainConfig{}, method);
  Variables& v = trainer.variables();
  std::map<std::string, std::map<std::string, Tensor>> before;
  for (const std::string& g : watched) before[g] = snapshot(m, v, g);
  Tensor images = Tensor::zeros({config.batch, 28, 28, 1}, DType::F32),
         labels = Tensor::zeros({config.batch}, DType::I32);
  std::vector<int64_t> order(static_cast<size_t>(config.batch));
  for (int64_t i = 0; i < config.batch; ++i) order[static_cast<size_t>(i)] = i;
  gather_batch(tiny_data(), order, 0, {}, 0, 0, images, labels);
  std::vector<HostBatch> batch{{images, labels}};
  for (int step = 0; step < 2; ++step) trainer.method().iterate(batch, step, 0.05, [](double) {});
  std::map<std::string, bool> out;
  for (const std::string& g : watched) out[g] = changed(before[g], v);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(frozen_groups_stay_bitwise_unchanged) {
  ModelConfig moe = small_moe();
  moe.batch = 16;
  auto r = train_groups(moe, {"router"}, {"router", "backbone"});
  BOOST_TEST(r["router"]);
  BOOST_TEST(!r["backbone"]);
  r = train_groups(moe, {"backbone"}, {"router", "backbone"});
  BOOST_TEST(!r["router"]);
  BOOST_TEST(r["backbone"]);
  ModelConfig sparse;
  sparse.batch = 16;
  sparse.variant = "sparse";
  sparse.keep = 0.5;
  r = train_groups(sparse, {"scores"}, {"scores", "backbone"});  // HYDRA's prune phase
  BOOST_TEST(r["scores"]);
  BOOST_TEST(!r["backbone"]);
  r = train_groups(sparse, {"backbone"}, {"scores", "backbone"});  // finetune
  BOOST_TEST(!r["scores"]);
  BOOST_TEST(r["backbone"]);
  BOOST_TEST(error_of([&] {
               train_groups(sparse, {"router"}, {});
             }).find("no parameters of group 'router'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(init_from_loads_a_dense_model_into_a_sparse_one_and_checks_architecture) {
  ModelConfig dense;
  dense.batch = 4;
  Model d = build_model(dense);
  auto backend = make_backend("reference");
  Variables dv(*backend);
  initialize_parameters(d, dv, 1);
  const std::string path =
      (std::filesystem::temp_directory_path() / "advmoe_init_from_dense.h5").string();
  save_checkpoint(path, d, dv, RunState{});
  ModelConfig sparse = dense;
  sparse.variant = "sparse";
  sparse.keep = 0.5;
  Model s = build_model(sparse);
  Variables sv(*backend);
  initialize_parameters(s, sv, 2);
  std::vector<std::string> derived = load_initial_parameters(path, s, sv);
  BOOST_TEST(derived.size() == s.masked.size());
  BOOST_TEST(same_bytes(sv.get("conv2.weight"), dv.get("conv2.weight")));
  Tensor expected = hydra_scores(dv.get("conv2.weight"));
  BOOST_TEST(same_bytes(sv.get("conv2.scores"), expected));
  ModelConfig other = sparse;
  other.arch = "vgg16-bn";
  other.image = Shape{32, 32, 3};
  Model o = build_model(other);
  Variables ov(*backend);
  BOOST_TEST(error_of([&] { load_initial_parameters(path, o, ov); }).find("arch smallcnn here") !=
             std::string::npos);
  ModelConfig moe = small_moe();
  moe.batch = 4;
  Model mm = build_model(moe);
  BOOST_TEST(error_of([&] { load_initial_parameters(path, mm, ov); }).find("same variant") !=
             std::string::npos);
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_SUITE_END()
