// PGD: stays in the eps-ball and [0, 1], raises the loss, lowers accuracy, and its Plan holds no
// weight-gradient kernel; MoE expert usage on adversarial inputs is counted.
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "../helpers.h"
#include "datasets/batcher.h"
#include "datasets/registry.h"
#include "models/registry.h"
#include "ops/backends.h"
#include "training/classifier_trainer.h"
#include "training/pgd.h"

using namespace advmoe;
using namespace advmoe::testing;

BOOST_AUTO_TEST_SUITE(pgd)

BOOST_AUTO_TEST_CASE(pgd_respects_the_ball_and_hurts_a_trained_model) {
  Dataset train = load_dataset("fashion-mnist", "", "train", 4096);
  Dataset test = load_dataset("fashion-mnist", "", "test", 256);
  ModelConfig mc;
  mc.batch = 128;
  mc.width = 0.5;
  mc.variant = "moe";
  mc.ratio = 0.5;
  Model model = build_model(mc);
  auto backend = make_backend("onednn");
  TrainConfig tc;
  tc.seed = 1;
  ClassifierTrainer trainer(model, *backend, tc);
  trainer.set_total_steps(32);
  trainer.train_epoch(train, 1, nullptr);

  PgdConfig config{0.1, 0.025, 10, true, 3};
  PgdAttack attack(model, trainer.variables(), config);
  for (Op op : attack.plan().kernel_ops())
    BOOST_TEST((op != Op::Conv2dBackwardWeights && op != Op::ExpertConvBackwardWeights &&
                op != Op::BatchNormBackwardParams && op != Op::LinearBackwardWeights));

  std::vector<int64_t> order(256);
  for (int64_t i = 0; i < 256; ++i) order[static_cast<size_t>(i)] = i;
  Tensor x0 = Tensor::zeros({128, 28, 28, 1}, DType::F32),
         labels = Tensor::zeros({128}, DType::I32);
  gather_batch(test, order, 0, {}, 0, 0, x0, labels);
  Tensor adv = x0.clone();
  PgdAttack one_step(model, trainer.variables(), PgdConfig{0.1, 0.025, 1, false, 3});
  one_step.run(x0, labels, adv, 0);
  double clean_loss = one_step.last_loss();  // no random start: the first step's input is x0
  attack.run(x0, labels, adv, 0);
  double max_move = 0, lo = 1, hi = 0;
  for (int64_t i = 0; i < x0.numel(); ++i) {
    max_move = std::max(max_move, std::abs(adv.item(i) - x0.item(i)));
    lo = std::min(lo, adv.item(i));
    hi = std::max(hi, adv.item(i));
  }
  BOOST_TEST(max_move <= 0.1 + 1e-6);
  BOOST_TEST(max_move >= 0.1 - 1e-6);  // sign steps reach the ball's surface somewhere
  BOOST_TEST(lo >= 0.0);
  BOOST_TEST(hi <= 1.0);
  BOOST_TEST(attack.last_loss() > clean_loss);

  EvalResult clean = trainer.evaluate(test);
  EvalResult robust = trainer.evaluate_adversarial(test, config);
  BOOST_TEST(robust.accuracy < clean.accuracy - 0.2,
             "clean " << clean.accuracy << " robust " << robust.accuracy);
  int64_t routed = 0;
  for (const LayerUsage& u : trainer.adversarial_usage())
    for (int64_t c : u.counts) routed += c;
  BOOST_TEST(routed == 256 * static_cast<int64_t>(trainer.adversarial_usage().size()));
  BOOST_TEST(trainer.adversarial_usage().size() == 3u);
}

BOOST_AUTO_TEST_CASE(bad_attack_settings) {
  ModelConfig mc;
  mc.batch = 2;
  Model model = build_model(mc);
  auto backend = make_backend("onednn");
  Variables v(*backend);
  initialize_parameters(model, v, 1);
  BOOST_TEST(error_of([&] {
               PgdAttack(model, v, PgdConfig{0.1, 0.0, 10, true, 0});
             }).find("step size") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
