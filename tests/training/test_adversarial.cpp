// Adversarial training programs: TRADES' loss reduces to CE when x' = x, every method beats
// standard training in robust accuracy on real data, and AdvMoE's levels each compute and update
// only their own parameter group.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>

#include "../helpers.h"
#include "backends/backends.h"
#include "datasets/registry.h"
#include "group_snapshot.h"
#include "models/registry.h"
#include "training/methods/methods.h"
#include "training/trainer.h"

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

}  // namespace

BOOST_AUTO_TEST_SUITE(adversarial_training)

BOOST_AUTO_TEST_CASE(trades_loss_equals_a_hand_computation) {
  // L = CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x')), batchmean. Train-mode BN makes
  // each branch's logits depend on its own batch only, so f(x') can be read by running the same
  // plan with x' as the clean input too.
  ModelConfig c;
  c.batch = 8;
  c.width = 0.25;
  Model m = build_model(c);
  auto backend = make_backend("onednn");
  Trainer trainer(m, *backend, TrainConfig{}, MethodConfig{Method::Trades, 0.1, 2, 0, 6.0});
  Variables& v = trainer.variables();
  Tensor x = random_tensor({8, 28, 28, 1}, DType::F32, 1, 0, 1);
  Tensor x_adv = random_tensor({8, 28, 28, 1}, DType::F32, 2, 0, 1);
  for (int i = 0; i < 8; ++i) v.get("labels").data<int32_t>()[i] = (3 * i) % 10;
  auto logits_and_loss = [&](const Tensor& clean, const Tensor& adversarial) {
    v.set("images", clean);
    v.set("adv_images", adversarial);
    trainer.method().scored_plan().run();
    return std::make_pair(v.get("logits").clone(), v.get("loss").item(0));
  };
  auto [clean_logits, loss] = logits_and_loss(x, x_adv);
  Tensor adv_logits = logits_and_loss(x_adv, x_adv).first;
  double ce = 0, kl = 0;
  for (int n = 0; n < 8; ++n) {
    auto log_softmax_row = [&](const Tensor& z) {
      std::vector<double> out(10);
      double m_ = -1e30, s = 0;
      for (int k = 0; k < 10; ++k) m_ = std::max(m_, z.item(n * 10 + k));
      for (int k = 0; k < 10; ++k) s += std::exp(z.item(n * 10 + k) - m_);
      for (int k = 0; k < 10; ++k)
        out[static_cast<size_t>(k)] = z.item(n * 10 + k) - m_ - std::log(s);
      return out;
    };
    std::vector<double> lp = log_softmax_row(clean_logits), lq = log_softmax_row(adv_logits);
    ce -= lp[static_cast<size_t>((3 * n) % 10)];
    for (size_t k = 0; k < 10; ++k) kl += std::exp(lp[k]) * (lp[k] - lq[k]);
  }
  double expected = ce / 8 + 6.0 * kl / 8;
  BOOST_TEST(loss == expected, boost::test_tools::tolerance(1e-4));
  BOOST_TEST(kl > 0);
  // With x' = x the KL term vanishes and the loss is the clean cross-entropy.
  double same = logits_and_loss(x, x).second;
  BOOST_TEST(same == ce / 8, boost::test_tools::tolerance(1e-4));
}

BOOST_AUTO_TEST_CASE(advmoe_levels_update_only_their_own_group) {
  Dataset data = load_dataset("fashion-mnist", "", "train", 128);
  Model m = build_model(small_moe());
  auto backend = make_backend("onednn");
  TrainConfig tc;
  tc.seed = 5;
  Trainer trainer(m, *backend, tc, MethodConfig{Method::AdvMoe, 0.1, 2, 0, 6.0});
  // The router level differentiates the router group only: no backbone weight-gradient kernel.
  for (Op op : dynamic_cast<AdvMoePaperTraining&>(trainer.method()).router_plan().kernel_ops())
    BOOST_TEST((op != Op::Conv2dBackwardWeights && op != Op::ExpertConvBackwardWeights &&
                op != Op::BatchNormBackwardParams));
  // The backbone level has expert weight gradients and no gradient for any router parameter.
  bool expert_grads = false;
  for (Op op : dynamic_cast<AdvMoePaperTraining&>(trainer.method()).backbone_plan().kernel_ops())
    expert_grads |= op == Op::ExpertConvBackwardWeights;
  BOOST_TEST(expert_grads);

  auto routers = snapshot(m, trainer.variables(), "router");
  auto backbone = snapshot(m, trainer.variables(), "backbone");
  trainer.set_total_steps(2);
  trainer.train_epoch(data, 1, nullptr);  // two iterations, each a router step and a backbone step
  BOOST_TEST(changed(routers, trainer.variables()));
  BOOST_TEST(changed(backbone, trainer.variables()));
  BOOST_TEST(error_of([] {
               Model dense = build_model(ModelConfig{});
               auto b = make_backend("onednn");
               Trainer t(dense, *b, TrainConfig{}, MethodConfig{Method::AdvMoe, 0.1, 2, 0, 6});
             }).find("needs an MoE model") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(adversarial_methods_beat_standard_training_in_robust_accuracy) {
  Dataset train = load_dataset("fashion-mnist", "", "train", 4096);
  Dataset test = load_dataset("fashion-mnist", "", "test", 500);
  PgdConfig eval{0.1, 0.025, 10, PgdStart::Uniform, 9};
  double robust[4];
  const char* methods[] = {"standard", "pgd-at", "trades", "advmoe"};
  for (int k = 0; k < 4; ++k) {
    Model m = build_model(small_moe());
    auto backend = make_backend("onednn");
    TrainConfig tc;
    tc.seed = 3;
    tc.epochs = 2;
    auto trainer = std::make_unique<Trainer>(
        m, *backend, tc, MethodConfig{parse_method(methods[k]), 0.1, 2, 0, 6.0});
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
