// Route balancing (training/route_balance.h) and the collapse bookkeeping (training/run_files.h):
// a router forced onto one expert is pulled back to balance in training and in evaluation mode,
// each offset moves by exactly the rate per step in the right direction, rate 0 leaves the model
// alone, the offsets survive a checkpoint, the standardized router input has no bias, and the
// busiest-share and collapse counts follow the 90% definition.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>

#include "../helpers.h"
#include "backends/backends.h"
#include "datasets/registry.h"
#include "models/flops.h"
#include "models/registry.h"
#include "training/checkpoint.h"
#include "training/run_files.h"
#include "training/trainer.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

ModelConfig small_moe(const std::string& router_input = "pooled") {
  ModelConfig mc;
  mc.batch = 64;
  mc.variant = "moe";
  mc.ratio = 0.25;
  mc.router_input = router_input;
  return mc;
}

// Offsets per router, read back from the variables.
std::vector<std::vector<float>> offsets(const Model& model, Variables& v, const char* suffix) {
  std::vector<std::vector<float>> out;
  for (const Model::Router& r : model.routers) {
    Tensor host = Tensor::zeros(Shape{model.config.experts}, DType::F32);
    v.backend().copy(host, v.get(r.offset.info().name + suffix));
    out.emplace_back(host.data<float>(), host.data<float>() + host.numel());
  }
  return out;
}

// Pushes every router to expert 0 (bias +100 on its logit) while its weights, scaled up, spread
// the samples' logits over a range of tens: balancing must find the median through the bias.
void force_expert_zero(const Model& model, Variables& v) {
  uint64_t seed = 11;
  for (const Model::Router& r : model.routers) {
    Tensor b = Tensor::zeros(Shape{model.config.experts}, DType::F32);
    b.data<float>()[0] = 100;
    v.set(r.name + ".bias", b);
    const Shape& w = v.get(r.name + ".weight").shape();
    v.set(r.name + ".weight", random_tensor(w, DType::F32, seed++, -40, 40));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(balancing_pulls_a_forced_router_back_in_both_modes) {
  Dataset train = load_dataset("fashion-mnist", "", "train", 64 * 60);
  Dataset test = load_dataset("fashion-mnist", "", "test", 512);
  for (double rate : {0.0, 2.0}) {
    Model model = build_model(small_moe());
    auto backend = make_backend("onednn");
    TrainConfig tc;
    tc.lr = 1e-4;  // the routers barely learn: what moves the routes is the balancer
    tc.balance_rate = rate;
    Trainer trainer(model, *backend, tc);
    force_expert_zero(model, trainer.variables());
    trainer.set_total_steps(60);
    trainer.train_epoch(train, 1, nullptr);
    trainer.evaluate(test);
    std::vector<double> train_share = busiest_shares(trainer.usage());
    std::vector<double> test_share = busiest_shares(trainer.clean_usage());
    BOOST_TEST_REQUIRE(test_share.size() == 3u);
    for (size_t l = 0; l < 3; ++l) {
      if (rate == 0) {
        // Without balancing the bias of 100 sends (nearly) everything to expert 0: collapsed.
        BOOST_TEST(train_share[l] > 0.9);
        BOOST_TEST(test_share[l] > 0.9);
      } else {
        BOOST_TEST(test_share[l] <= 0.9, "layer " << l << " clean test share " << test_share[l]);
        BOOST_TEST(train_share[l] < 0.9, "layer " << l << " training share " << train_share[l]);
      }
    }
    for (const char* suffix : {"", "_train"})
      for (const std::vector<float>& o : offsets(model, trainer.variables(), suffix)) {
        if (rate == 0) {
          BOOST_TEST(o[0] == 0.0f);
          BOOST_TEST(o[1] == 0.0f);
        } else {
          // Expert 0 was over its share: its offset went down, the other's up, by whole steps.
          BOOST_TEST(o[0] < -20.0f);
          BOOST_TEST(o[0] == -o[1]);
          BOOST_TEST(std::fmod(std::abs(o[0]), 2.0f) == 0.0f);
        }
      }
  }
}

BOOST_AUTO_TEST_CASE(offsets_and_shares_survive_a_checkpoint) {
  Dataset train = load_dataset("fashion-mnist", "", "train", 64 * 4);
  Model model = build_model(small_moe("standardized"));
  auto backend = make_backend("onednn");
  TrainConfig tc;
  tc.balance_rate = 0.25;
  Trainer trainer(model, *backend, tc);
  trainer.set_total_steps(4);
  EpochMetrics m = trainer.train_epoch(train, 1, nullptr);
  trainer.evaluate(train);
  m.busiest_clean = busiest_shares(trainer.clean_usage());
  m.busiest_adversarial = {0.5, std::nan(""), 1.0};
  RunState state;
  state.epoch = 1;
  state.metrics = {m};
  auto dir = std::filesystem::temp_directory_path() / "advmoe_route_balance";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "c.h5").string();
  save_checkpoint(path, model, trainer.variables(), state);

  Model again = build_model(small_moe("standardized"));
  Variables loaded(*backend);
  initialize_parameters(again, loaded, 7);
  load_checkpoint_tensors(path, again, loaded, false);
  for (const char* suffix : {"", "_train"})
    BOOST_TEST(offsets(again, loaded, suffix) == offsets(model, trainer.variables(), suffix));
  CheckpointHeader h = read_checkpoint_header(path);
  BOOST_TEST(h.model.router_input == "standardized");
  BOOST_TEST_REQUIRE(h.state.metrics.size() == 1u);
  BOOST_TEST_REQUIRE(h.state.metrics[0].busiest_adversarial.size() == 3u);
  BOOST_TEST(h.state.metrics[0].busiest_adversarial[0] == 0.5);
  BOOST_TEST(std::isnan(h.state.metrics[0].busiest_adversarial[1]));
  for (size_t l = 0; l < 3; ++l)
    BOOST_TEST(h.state.metrics[0].busiest_clean[l] == static_cast<float>(m.busiest_clean[l]));
  // A model routed differently is refused with the field named.
  Model pooled = build_model(small_moe("pooled"));
  Variables other(*backend);
  initialize_parameters(pooled, other, 7);
  BOOST_CHECK_EXCEPTION(load_checkpoint_tensors(path, pooled, other, false), Error,
                        [](const Error& e) {
                          return std::string(e.what()).find("router_input") != std::string::npos;
                        });
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(standardized_router_has_no_bias_and_pooled_one_does) {
  Model standardized = build_model(small_moe("standardized"));
  Model pooled = build_model(small_moe("pooled"));
  BOOST_TEST(!standardized.graph->has("conv2.router.bias"));
  BOOST_TEST(standardized.graph->has("conv2.router.norm.running_mean"));
  BOOST_TEST(pooled.graph->has("conv2.router.bias"));
  // The same MACs either way; 2 bias values per router fewer.
  BOOST_TEST(count_macs(standardized).router == count_macs(pooled).router);
  BOOST_TEST(router_parameters(pooled) - router_parameters(standardized) == 3 * 2);
  ModelConfig bad = small_moe("whitened");
  BOOST_CHECK_EXCEPTION(build_model(bad), Error, [](const Error& e) {
    return std::string(e.what()).find("whitened") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(busiest_shares_and_the_ninety_percent_definition) {
  std::vector<LayerUsage> usage = {{"a", {90, 10}}, {"b", {9, 91}}, {"c", {0, 0}}, {"d", {50, 50}}};
  std::vector<double> shares = busiest_shares(usage);
  BOOST_TEST(shares[0] == 0.9);
  BOOST_TEST(shares[1] == 0.91);
  BOOST_TEST(std::isnan(shares[2]));
  BOOST_TEST(shares[3] == 0.5);
  BOOST_TEST(collapsed_layers(shares) == 1);  // exactly 90% is not collapsed; 91% is
}

BOOST_AUTO_TEST_CASE(matched_sdense_reaches_the_moe_pathway_budget) {
  ModelConfig moe = small_moe();
  moe.batch = 1;
  moe.ratio = 0.5;
  const int64_t target = count_macs(build_model(moe)).pathway;
  MatchedSDense same = matched_sdense(moe, target);
  BOOST_TEST(same.ratio == 0.5);  // SmallCNN's MoE pathway is S-Dense at r exactly
  BOOST_TEST(same.macs == target);
  // A budget between two widths: the closest one found by the search, within one step.
  MatchedSDense between = matched_sdense(moe, target + target / 10);
  BOOST_TEST(between.ratio > 0.5);
  BOOST_TEST(std::abs(static_cast<double>(between.macs - (target + target / 10))) <
             0.05 * static_cast<double>(target));
}
