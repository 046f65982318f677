// PGD: stays in the eps-ball (L-inf and L2) and [0, 1], raises the loss step by step, lowers
// accuracy, and its Plan holds no weight-gradient kernel; restarts only make it stronger; FGSM
// moves every pixel by eps; the KL objective needs no labels; MoE expert usage on adversarial
// inputs is counted.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

#include "../helpers.h"
#include "backends/backends.h"
#include "datasets/batcher.h"
#include "datasets/registry.h"
#include "models/registry.h"
#include "training/pgd.h"
#include "training/trainer.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

// A SmallCNN MoE trained for 32 steps, and a test batch of 128 images.
struct Fixture {
  Dataset train = load_dataset("fashion-mnist", "", "train", 4096);
  Dataset test = load_dataset("fashion-mnist", "", "test", 256);
  Model model;
  std::shared_ptr<Backend> backend = make_backend("onednn");
  std::unique_ptr<Trainer> trainer;
  Tensor x0 = Tensor::zeros({128, 28, 28, 1}, DType::F32),
         labels = Tensor::zeros({128}, DType::I32);

  Fixture() {
    ModelConfig mc;
    mc.batch = 128;
    mc.width = 0.5;
    mc.variant = "moe";
    mc.ratio = 0.5;
    model = build_model(mc);
    TrainConfig tc;
    tc.seed = 1;
    trainer = std::make_unique<Trainer>(model, *backend, tc);
    trainer->set_total_steps(32);
    trainer->train_epoch(train, 1, nullptr);
    std::vector<int64_t> order(256);
    for (int64_t i = 0; i < 256; ++i) order[static_cast<size_t>(i)] = i;
    gather_batch(test, order, 0, {}, 0, 0, x0, labels);
  }
  Variables& variables() { return trainer->variables(); }
};

// Per-sample L2 norms of x - x0.
std::vector<double> l2_distances(const Tensor& x, const Tensor& x0) {
  int64_t batch = x.shape()[0], per = x.numel() / batch;
  std::vector<double> out(static_cast<size_t>(batch));
  for (int64_t s = 0; s < batch; ++s) {
    double sum = 0;
    for (int64_t i = s * per; i < (s + 1) * per; ++i)
      sum += (x.item(i) - x0.item(i)) * (x.item(i) - x0.item(i));
    out[static_cast<size_t>(s)] = std::sqrt(sum);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pgd)

BOOST_AUTO_TEST_CASE(pgd_respects_the_ball_and_hurts_a_trained_model) {
  Fixture f;
  Model& model = f.model;
  Trainer& trainer = *f.trainer;
  Dataset& test = f.test;
  PgdConfig config{0.1, 0.025, 10, PgdStart::Uniform, 3};
  PgdAttack attack(model, trainer.variables(), config);
  for (Op op : attack.plan().kernel_ops())
    BOOST_TEST((op != Op::Conv2dBackwardWeights && op != Op::ExpertConvBackwardWeights &&
                op != Op::BatchNormBackwardParams && op != Op::LinearBackwardWeights));

  Tensor &x0 = f.x0, &labels = f.labels;
  Tensor adv = x0.clone();
  PgdAttack one_step(model, trainer.variables(), PgdConfig{0.1, 0.025, 1, PgdStart::None, 3});
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

BOOST_AUTO_TEST_CASE(pgd_loss_rises_step_by_step_on_a_fixed_model) {
  Fixture f;
  for (PgdNorm norm : {PgdNorm::Linf, PgdNorm::L2}) {
    PgdConfig c;
    c.norm = norm;
    c.epsilon = norm == PgdNorm::Linf ? 0.1 : 2.0;
    c.step_size = norm == PgdNorm::Linf ? 0.005 : 0.1;  // small steps: each one must help
    c.steps = 12;
    c.start = PgdStart::None;
    PgdAttack attack(f.model, f.variables(), c);
    Tensor adv = f.x0.clone();
    attack.run(f.x0, f.labels, adv, 0);
    const std::vector<double>& loss = attack.step_losses();
    BOOST_TEST(loss.size() == 12u);
    for (size_t k = 1; k < loss.size(); ++k)
      BOOST_TEST(loss[k] >= loss[k - 1] - 1e-6,
                 "step " << k << ": " << loss[k] << " < " << loss[k - 1]);
    BOOST_TEST(loss.back() > loss.front() + 0.1);
  }
}

BOOST_AUTO_TEST_CASE(l2_pgd_stays_in_the_ball) {
  Fixture f;
  PgdConfig c;
  c.norm = PgdNorm::L2;
  c.epsilon = 1.5;
  c.step_size = 0.4;
  c.steps = 10;
  PgdAttack attack(f.model, f.variables(), c);
  Tensor adv = f.x0.clone();
  attack.run(f.x0, f.labels, adv, 0);
  std::vector<double> d = l2_distances(adv, f.x0);
  double largest = *std::max_element(d.begin(), d.end());
  BOOST_TEST(largest <= 1.5 * (1 + 1e-5));
  BOOST_TEST(largest >= 1.5 * 0.99);  // the projection is active for some samples
  for (int64_t i = 0; i < adv.numel(); ++i)
    BOOST_TEST_REQUIRE((adv.item(i) >= 0 && adv.item(i) <= 1));
  BOOST_TEST(attack.last_loss() > attack.step_losses().front());
}

BOOST_AUTO_TEST_CASE(restarts_keep_each_samples_worst_case) {
  Fixture f;
  PgdConfig one{0.1, 0.02, 5, PgdStart::Uniform, 7};
  PgdConfig three = one;
  three.restarts = 3;
  EvalResult single = f.trainer->evaluate_adversarial(f.test, one);
  EvalResult worst = f.trainer->evaluate_adversarial(f.test, three);
  // Restart 0 is the single attack, so every sample it fools stays fooled.
  BOOST_TEST(worst.accuracy <= single.accuracy);
  BOOST_TEST(worst.loss >= single.loss);
  PgdAttack attack(f.model, f.variables(), three);
  Tensor adv = f.x0.clone();
  attack.run(f.x0, f.labels, adv, 0);
  double max_move = 0;
  for (int64_t i = 0; i < adv.numel(); ++i)
    max_move = std::max(max_move, std::abs(adv.item(i) - f.x0.item(i)));
  BOOST_TEST(max_move <= 0.1 + 1e-6);
  // Restarts need labels to score the candidates.
  BOOST_TEST(error_of([&] { attack.run(f.x0, adv, 0); }).find("labels") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(fgsm_moves_every_pixel_by_eps) {
  Fixture f;
  PgdAttack attack(f.model, f.variables(), fgsm(0.05));
  Tensor adv = f.x0.clone();
  attack.run(f.x0, f.labels, adv, 0);
  int64_t full = 0;
  for (int64_t i = 0; i < adv.numel(); ++i) {
    double move = std::abs(adv.item(i) - f.x0.item(i));
    bool clipped = adv.item(i) == 0.0 || adv.item(i) == 1.0;
    BOOST_TEST_REQUIRE((std::abs(move - 0.05) < 1e-6 || clipped || move == 0.0));
    full += std::abs(move - 0.05) < 1e-6;
  }
  BOOST_TEST(full > adv.numel() / 2);
  BOOST_TEST(attack.step_losses().size() == 1u);
}

BOOST_AUTO_TEST_CASE(kl_objective_pushes_away_from_the_clean_output) {
  Fixture f;
  PgdConfig c{0.1, 0.02, 8, PgdStart::Uniform, 2};
  c.objective = PgdObjective::KlToClean;
  PgdAttack attack(f.model, f.variables(), c);
  Tensor adv = f.x0.clone();
  attack.run(f.x0, adv, 0);  // no labels needed
  BOOST_TEST(attack.step_losses().front() >= 0.0);
  BOOST_TEST(attack.last_loss() > 5 * attack.step_losses().front() + 0.01);
  // At x0 itself the KL to the clean output is zero.
  PgdConfig none = c;
  none.start = PgdStart::None;
  PgdAttack from_clean(f.model, f.variables(), none);
  from_clean.run(f.x0, adv, 0);
  BOOST_TEST(std::abs(from_clean.step_losses().front()) < 1e-6);
}

BOOST_AUTO_TEST_CASE(bad_attack_settings) {
  ModelConfig mc;
  mc.batch = 2;
  Model model = build_model(mc);
  auto backend = make_backend("onednn");
  Variables v(*backend);
  initialize_parameters(model, v, 1);
  BOOST_TEST(error_of([&] {
               PgdAttack(model, v, PgdConfig{0.1, 0.0, 10, PgdStart::Uniform, 0});
             }).find("step size") != std::string::npos);
  PgdConfig no_restart;
  no_restart.restarts = 0;
  BOOST_TEST(error_of([&] { PgdAttack(model, v, no_restart); }).find("restart") !=
             std::string::npos);
  BOOST_TEST(error_of([] { parse_pgd_norm("l1"); }).find("linf or l2") != std::string::npos);
  BOOST_TEST(error_of([] { parse_pgd_objective("hinge"); }).find("ce or kl") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
