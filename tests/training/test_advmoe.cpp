// AdvMoE's bi-level program in both presets: each level's step changes only its own parameter
// group and the routers' own learning rate scales exactly their step (the bit-exact resume of
// both presets is in test_training_run.cpp).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>

#include "../helpers.h"
#include "backends/backends.h"
#include "datasets/batcher.h"
#include "datasets/registry.h"
#include "group_snapshot.h"
#include "models/registry.h"
#include "training/checkpoint.h"
#include "training/methods/methods.h"
#include "training/trainer.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

ModelConfig tiny_moe(const std::string& routing) {
  ModelConfig c;
  c.batch = 32;
  c.width = 0.25;
  c.variant = "moe";
  c.ratio = 0.5;
  c.routing = routing;
  return c;
}

MethodConfig advmoe_config(const std::string& preset) {
  MethodConfig a;
  a.method = Method::AdvMoe;
  a.epsilon = 0.1;
  a.preset = parse_advmoe_preset(preset);
  return a;
}

// The first 32 training images into the trainer's "images"/"labels" variables.
void load_batch(const Dataset& data, Variables& v) {
  Tensor images = Tensor::zeros({32, 28, 28, 1}, DType::F32),
         labels = Tensor::zeros({32}, DType::I32);
  std::vector<int64_t> order(32);
  for (int64_t i = 0; i < 32; ++i) order[static_cast<size_t>(i)] = i;
  gather_batch(data, order, 0, {}, 0, 0, images, labels);
  v.backend().copy(v.get("images"), images);
  v.backend().copy(v.get("labels"), labels);
}

// One level's attack and step on the batch in the variables, at the default rate 0.05.
double level_step(Trainer& trainer, const std::string& group) {
  if (auto* paper = dynamic_cast<AdvMoePaperTraining*>(&trainer.method()))
    return group == "router" ? paper->router_step(0, 0.05) : paper->backbone_step(0, 0.05);
  auto& code = dynamic_cast<AdvMoeReferenceTraining&>(trainer.method());
  return group == "router" ? code.router_step(0, 0.05) : code.backbone_step(0, 0.05);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(advmoe_program)

BOOST_AUTO_TEST_CASE(each_level_changes_only_its_own_group_in_both_presets) {
  Dataset data = load_dataset("fashion-mnist", "", "train", 64);
  for (const char* preset : {"paper", "reference-code"}) {
    BOOST_TEST_CONTEXT(preset) {
      Model m = build_model(tiny_moe(std::string(preset) == "paper" ? "layer" : "global"));
      auto backend = make_backend("onednn");
      Trainer trainer(m, *backend, TrainConfig{}, advmoe_config(preset));
      Variables& v = trainer.variables();
      load_batch(data, v);
      auto routers = snapshot(m, v, "router");
      auto backbone = snapshot(m, v, "backbone");
      BOOST_TEST(std::isfinite(level_step(trainer, "router")));
      BOOST_TEST(changed(routers, v));
      BOOST_TEST(!changed(backbone, v));
      routers = snapshot(m, v, "router");
      BOOST_TEST(std::isfinite(level_step(trainer, "backbone")));
      BOOST_TEST(changed(backbone, v));
      BOOST_TEST(!changed(routers, v));
    }
  }
  Model layer = build_model(tiny_moe("layer"));
  auto backend = make_backend("onednn");
  BOOST_TEST(error_of([&] {
               Trainer(layer, *backend, TrainConfig{}, advmoe_config("reference-code"));
             }).find("--routing global") != std::string::npos);
  BOOST_TEST(error_of([&] {
               Trainer(layer, *backend, TrainConfig{}, advmoe_config("folklore"));
             }).find("unknown preset") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(router_learning_rate_scales_the_router_step_exactly) {
  Dataset data = load_dataset("fashion-mnist", "", "train", 64);
  std::map<std::string, Tensor> before, after[2];
  for (int k = 0; k < 2; ++k) {
    Model m = build_model(tiny_moe("layer"));
    auto backend = make_backend("onednn");
    TrainConfig tc;
    tc.lr = 0.05;
    MethodConfig a = advmoe_config("paper");
    a.router_lr_scale = k == 0 ? 1 : 2;  // the backbone's 0.05, then 0.1
    Trainer trainer(m, *backend, tc, a);
    load_batch(data, trainer.variables());
    before = snapshot(m, trainer.variables(), "router");
    level_step(trainer, "router");
    after[k] = snapshot(m, trainer.variables(), "router");
  }
  // The first SGD step from zero momentum is lr * (g + wd * w): twice the LR, twice the step.
  double worst = 0, largest = 0;
  for (const auto& [name, w0] : before)
    for (int64_t i = 0; i < w0.numel(); ++i) {
      double step = after[0].at(name).item(i) - w0.item(i);
      double doubled = after[1].at(name).item(i) - w0.item(i);
      worst = std::max(worst, std::abs(doubled - 2 * step));
      largest = std::max(largest, std::abs(step));
    }
  BOOST_TEST(largest > 0);
  BOOST_TEST(worst <= 1e-3 * largest, "worst " << worst << " largest step " << largest);
}

BOOST_AUTO_TEST_SUITE_END()
