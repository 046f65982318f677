// AdvMoE's bi-level program in both presets: each level's step changes only its own parameter
// group, the routers' own learning rate scales exactly their step, and a resumed run reproduces
// the uninterrupted one bit for bit (two optimizers, both data streams, the attacks' RNG).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>

#include "../helpers.h"
#include "backends/backends.h"
#include "datasets/batcher.h"
#include "datasets/registry.h"
#include "group_snapshot.h"
#include "models/registry.h"
#include "training/adversarial_trainer.h"
#include "training/checkpoint.h"

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

AdversarialConfig advmoe_config(const std::string& preset) {
  AdversarialConfig a;
  a.method = "advmoe";
  a.epsilon = 0.1;
  a.preset = preset;
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

}  // namespace

BOOST_AUTO_TEST_SUITE(advmoe_program)

BOOST_AUTO_TEST_CASE(each_level_changes_only_its_own_group_in_both_presets) {
  Dataset data = load_dataset("fashion-mnist", "", "train", 64);
  for (const char* preset : {"paper", "reference-code"}) {
    BOOST_TEST_CONTEXT(preset) {
      Model m = build_model(tiny_moe(std::string(preset) == "paper" ? "layer" : "global"));
      auto backend = make_backend("onednn");
      AdversarialTrainer trainer(m, *backend, TrainConfig{}, advmoe_config(preset));
      Variables& v = trainer.variables();
      load_batch(data, v);
      auto routers = snapshot(m, v, "router");
      auto backbone = snapshot(m, v, "backbone");
      BOOST_TEST(std::isfinite(trainer.level_step("router")));
      BOOST_TEST(changed(routers, v));
      BOOST_TEST(!changed(backbone, v));
      routers = snapshot(m, v, "router");
      BOOST_TEST(std::isfinite(trainer.level_step("backbone")));
      BOOST_TEST(changed(backbone, v));
      BOOST_TEST(!changed(routers, v));
    }
  }
  Model layer = build_model(tiny_moe("layer"));
  auto backend = make_backend("onednn");
  BOOST_TEST(error_of([&] {
               AdversarialTrainer(layer, *backend, TrainConfig{}, advmoe_config("reference-code"));
             }).find("--routing global") != std::string::npos);
  BOOST_TEST(error_of([&] {
               AdversarialTrainer(layer, *backend, TrainConfig{}, advmoe_config("folklore"));
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
    AdversarialConfig a = advmoe_config("paper");
    a.router_lr = k == 0 ? 0 : 0.1;  // 0: the backbone's 0.05
    AdversarialTrainer trainer(m, *backend, tc, a);
    load_batch(data, trainer.variables());
    before = snapshot(m, trainer.variables(), "router");
    trainer.level_step("router");
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

BOOST_AUTO_TEST_CASE(resumed_advmoe_run_is_bit_identical) {
  TempDir dir;
  Dataset data = load_dataset("fashion-mnist", "", "train", 128);
  for (const char* preset : {"paper", "reference-code"}) {
    BOOST_TEST_CONTEXT(preset) {
      auto run = [&](int last_epoch, bool resume) {
        Model model = build_model(tiny_moe(std::string(preset) == "paper" ? "layer" : "global"));
        auto backend = make_backend("onednn");
        TrainConfig tc;
        tc.seed = 6;
        tc.epochs = 2;
        AdversarialConfig a = advmoe_config(preset);
        a.router_lr = 0.02;
        AdversarialTrainer trainer(model, *backend, tc, a);
        trainer.set_total_steps(2 * data.size() / 32);
        int first = 1;
        if (resume) {
          CheckpointHeader h = read_checkpoint_header(dir.file("last.h5"));
          load_checkpoint_tensors(dir.file("last.h5"), model, trainer.variables(), true);
          trainer.set_global_step(h.state.step);
          first = static_cast<int>(h.state.epoch) + 1;
        }
        for (int epoch = first; epoch <= last_epoch; ++epoch)
          trainer.train_epoch(data, epoch, nullptr);
        RunState state{"fashion-mnist", last_epoch, trainer.global_step(), 6, "", {}, ""};
        save_checkpoint(dir.file("last.h5"), model, trainer.variables(), state);
        std::map<std::string, Tensor> out;
        for (const std::string& n : trainer.variables().names())
          if (n.find('.') != std::string::npos && n.rfind("grad/", 0) != 0)
            out[n] = trainer.variables().get(n).clone();
        return out;
      };
      auto straight = run(2, false);
      run(1, false);  // stopped after epoch 1
      auto resumed = run(2, true);
      int momenta = 0;
      for (const auto& [name, tensor] : straight) {
        BOOST_TEST(same_bytes(resumed.at(name), tensor), name << " differs after resume");
        momenta += name.rfind("momentum/", 0) == 0;
      }
      BOOST_TEST(momenta > 0);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
