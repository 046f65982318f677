// Adversarial training programs: TRADES' loss reduces to CE when x' = x, every method beats
// standard training in robust accuracy on real data, and AdvMoE's levels each compute and update
// only their own parameter group.
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "../helpers.h"
#include "datasets/registry.h"
#include "models/registry.h"
#include "ops/backends.h"
#include "training/adversarial_trainer.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

ModelConfig small_moe() {
  ModelConfig c;
  c.batch = 64;
  c.variant = "moe";
  c.ratio = 0.5;
  c.experts = 2;
  return c;
}

std::map<std::string, Tensor> snapshot(const Model& m, Variables& v, const std::string& group) {
  std::map<std::string, Tensor> out;
  for (ValueId p : m.graph->params(group))
    out[m.graph->value(p).name] = v.get(m.graph->value(p).name).clone();
  return out;
}

bool changed(const std::map<std::string, Tensor>& before, Variables& v) {
  for (const auto& [name, t] : before)
    if (std::memcmp(t.raw(), v.get(name).raw(), t.bytes()) != 0) return true;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(adversarial_training)

BOOST_AUTO_TEST_CASE(advmoe_levels_update_only_their_own_group) {
  Dataset data = load_dataset("fashion-mnist", "", "train", 128);
  Model m = build_model(small_moe());
  auto backend = make_backend("onednn");
  TrainConfig tc;
  tc.seed = 5;
  AdversarialTrainer trainer(m, *backend, tc, AdversarialConfig{"advmoe", 0.1, 2, 0, 6.0});
  // The router level differentiates the router group only: no backbone weight-gradient kernel.
  for (Op op : trainer.level_plan("router").kernel_ops())
    BOOST_TEST((op != Op::Conv2dBackwardWeights && op != Op::ExpertConvBackwardWeights &&
                op != Op::BatchNormBackwardParams));
  // The backbone level has expert weight gradients and no gradient for any router parameter.
  bool expert_grads = false;
  for (Op op : trainer.level_plan("backbone").kernel_ops())
    expert_grads |= op == Op::ExpertConvBackwardWeights;
  BOOST_TEST(expert_grads);

  auto routers = snapshot(m, trainer.variables(), "router");
  auto backbone = snapshot(m, trainer.variables(), "backbone");
  trainer.set_total_steps(2);
  trainer.train_epoch(data, 1, nullptr);  // two iterations, each a router step and a backbone step
  BOOST_TEST(changed(routers, trainer.variables()));
  BOOST_TEST(changed(backbone, trainer.variables()));
  BOOST_TEST(
      error_of([] {
        Model dense = build_model(ModelConfig{});
        auto b = make_backend("onednn");
        AdversarialTrainer t(dense, *b, TrainConfig{}, AdversarialConfig{"advmoe", 0.1, 2, 0, 6});
      }).find("needs an MoE model") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(adversarial_methods_beat_standard_training_in_robust_accuracy) {
  Dataset train = load_dataset("fashion-mnist", "", "train", 4096);
  Dataset test = load_dataset("fashion-mnist", "", "test", 500);
  PgdConfig eval{0.1, 0.025, 10, true, 9};
  double robust[4];
  const char* methods[] = {"standard", "pgd-at", "trades", "advmoe"};
  for (int k = 0; k < 4; ++k) {
    Model m = build_model(small_moe());
    auto backend = make_backend("onednn");
    TrainConfig tc;
    tc.seed = 3;
    tc.epochs = 2;
    std::unique_ptr<ClassifierTrainer> trainer;
    if (k == 0)
      trainer = std::make_unique<ClassifierTrainer>(m, *backend, tc);
    else
      trainer = std::make_unique<AdversarialTrainer>(m, *backend, tc,
                                                     AdversarialConfig{methods[k], 0.1, 2, 0, 6.0});
    trainer->set_total_steps(2 * train.size() / 64);
    trainer->train_epoch(train, 1, nullptr);
    trainer->train_epoch(train, 2, nullptr);
    robust[k] = trainer->evaluate_adversarial(test, eval).accuracy;
    BOOST_TEST_MESSAGE(methods[k] << ": PGD-10 robust accuracy " << robust[k]);
  }
  for (int k = 1; k < 4; ++k)
    BOOST_TEST(robust[k] > robust[0] + 0.15,
               methods[k] << " " << robust[k] << " vs standard " << robust[0]);
}

BOOST_AUTO_TEST_SUITE_END()
