// The AutoAttack evaluation: DLR and targeted DLR against hand computations (ties, shift and scale
// invariance); APGD's checkpoint schedule and halving rule on scripted loss sequences; on a linear
// classifier, where the worst case in the L-inf ball is known in closed form, APGD-T reaches it,
// APGD-CE and Square get close, FAB's minimum norm is margin / |w_y - w_t|_1; every attack stays
// in the ball and [0, 1]; the cascade attacks only still-robust points and its RA is the
// per-sample worst case; an interrupted evaluation resumed from its state file ends with the
// same numbers.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "../helpers.h"
#include "backends/backends.h"
#include "ops/basic.h"
#include "ops/linear.h"
#include "ops/losses.h"
#include "training/attacks/autoattack.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

// Per-sample losses of `logits` rows through the sample_loss op on `backend`.
std::vector<double> losses_of(const std::vector<std::vector<float>>& rows,
                              const std::vector<int32_t>& labels,
                              const std::vector<int32_t>& targets, SampleLossAttrs::Kind kind,
                              const std::string& backend_name = "reference") {
  const int64_t n = static_cast<int64_t>(rows.size()), k = static_cast<int64_t>(rows[0].size());
  Graph g;
  Val z{&g, g.input("z", {n, k})};
  Val y{&g, g.input("y", {n}, DType::I32)}, t{&g, g.input("t", {n}, DType::I32)};
  bool targeted = kind == SampleLossAttrs::DlrTargeted || kind == SampleLossAttrs::TargetMargin;
  Val loss = targeted ? sample_loss(z, y, t, SampleLossAttrs{kind})
                      : sample_loss(z, y, SampleLossAttrs{kind});
  g.mark_output(loss.id, "loss");
  auto backend = make_backend(backend_name);
  Variables vars(*backend);
  auto plan = compile(g, vars, {Mode::Eval, {loss.id}});
  Tensor zt = Tensor::zeros({n, k}, DType::F32), yt = Tensor::zeros({n}, DType::I32),
         tt = Tensor::zeros({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < k; ++j)
      zt.data<float>()[i * k + j] = rows[static_cast<size_t>(i)][static_cast<size_t>(j)];
    yt.data<int32_t>()[i] = labels[static_cast<size_t>(i)];
    tt.data<int32_t>()[i] = targets.empty() ? 0 : targets[static_cast<size_t>(i)];
  }
  vars.set("z", zt);
  vars.set("y", yt);
  if (targeted) vars.set("t", tt);
  plan->run();
  Tensor out = Tensor::zeros({n}, DType::F32);
  backend->copy(out, vars.get("loss"));
  std::vector<double> result;
  for (int64_t i = 0; i < n; ++i) result.push_back(out.data<float>()[i]);
  return result;
}

// A linear classifier z = W flatten(x) + b on 4x4x1 images, as a Model the attacks can use.
struct LinearModel {
  static constexpr int64_t kPixels = 16;
  int64_t batch, classes;
  Model model;
  std::shared_ptr<Backend> backend = make_backend("onednn");
  std::unique_ptr<Variables> variables = std::make_unique<Variables>(*backend);
  std::vector<double> w, b;  // [classes][kPixels], [classes]

  LinearModel(int64_t batch_size, int64_t k, uint64_t seed) : batch(batch_size), classes(k) {
    model.config.batch = batch;
    model.config.image = Shape{4, 4, 1};
    model.config.classes = static_cast<int>(k);
    model.graph = std::make_unique<Graph>(DType::F32);
    Graph& g = *model.graph;
    model.images = Val{&g, g.input("images", {batch, 4, 4, 1})};
    model.input = model.images;
    model.labels = Val{&g, g.input("labels", {batch}, DType::I32)};
    Val weight{&g, g.param("w", {k, kPixels})}, bias{&g, g.param("b", {k})};
    model.logits = linear(flatten(model.images), weight, bias);
    g.mark_output(model.logits.id, "logits");
    Tensor wt = Tensor::zeros({k, kPixels}, DType::F32), bt = Tensor::zeros({k}, DType::F32);
    RandomStream(seed, 1).fill_normal(wt, 0, 1);
    RandomStream(seed, 2).fill_normal(bt, 0, 0.1);
    for (int64_t i = 0; i < wt.numel(); ++i) w.push_back(wt.data<float>()[i]);
    for (int64_t i = 0; i < bt.numel(); ++i) b.push_back(bt.data<float>()[i]);
    variables->set("w", wt);
    variables->set("b", bt);
  }

  double logit(const float* x, int64_t c) const {
    double z = b[static_cast<size_t>(c)];
    for (int64_t i = 0; i < kPixels; ++i) z += w[static_cast<size_t>(c * kPixels + i)] * x[i];
    return z;
  }
  int32_t predict(const float* x) const {
    int32_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (logit(x, c) > logit(x, best)) best = static_cast<int32_t>(c);
    return best;
  }
  // The smallest margin z_y - z_t over the L-inf ball around x0 intersected with [0, 1], over all
  // t != y: linear per coordinate, so each pixel goes to the end of its interval that lowers it.
  double worst_margin(const float* x0, int32_t y, double eps) const {
    double worst = 1e300;
    for (int64_t t = 0; t < classes; ++t) {
      if (t == y) continue;
      double m = b[static_cast<size_t>(y)] - b[static_cast<size_t>(t)];
      for (int64_t i = 0; i < kPixels; ++i) {
        const double d =
            w[static_cast<size_t>(y * kPixels + i)] - w[static_cast<size_t>(t * kPixels + i)];
        const double xi = d > 0 ? std::max(0.0, x0[i] - eps) : std::min(1.0, x0[i] + eps);
        m += d * xi;
      }
      worst = std::min(worst, m);
    }
    return worst;
  }
  // FAB's quantity: min over t of margin / |w_y - w_t|_1 (the L-inf distance to each boundary
  // without the box, exact when the box does not bind); with `l2`, margin / |w_y - w_t|_2.
  double boundary_distance(const float* x0, int32_t y, bool l2 = false) const {
    double best = 1e300;
    for (int64_t t = 0; t < classes; ++t) {
      if (t == y) continue;
      double l1 = 0;
      for (int64_t i = 0; i < kPixels; ++i) {
        const double d =
            w[static_cast<size_t>(y * kPixels + i)] - w[static_cast<size_t>(t * kPixels + i)];
        l1 += l2 ? d * d : std::fabs(d);
      }
      best = std::min(best, (logit(x0, y) - logit(x0, t)) / (l2 ? std::sqrt(l1) : l1));
    }
    return best;
  }
  // L2: the largest pixel change of the minimal step onto the closest boundary (the box [0, 1]
  // cannot bind when it is below every pixel's room).
  double l2_step_max(const float* x0, int32_t y) const {
    double best = 1e300, largest = 0;
    for (int64_t t = 0; t < classes; ++t) {
      if (t == y) continue;
      double norm2 = 0, top = 0;
      for (int64_t i = 0; i < kPixels; ++i) {
        const double d =
            w[static_cast<size_t>(y * kPixels + i)] - w[static_cast<size_t>(t * kPixels + i)];
        norm2 += d * d;
        top = std::max(top, std::fabs(d));
      }
      const double margin = logit(x0, y) - logit(x0, t);
      if (margin / std::sqrt(norm2) < best) {
        best = margin / std::sqrt(norm2);
        largest = margin * top / norm2;
      }
    }
    return largest;
  }
  // A test set of `n` images with pixels in [lo, hi] / 255, labelled by the model's own
  // prediction (every point starts correctly classified).
  Dataset dataset(int64_t n, int lo, int hi, uint64_t seed) const {
    Dataset d;
    d.name = "linear/test";
    d.shape = Shape{n, 4, 4, 1};
    d.num_classes = static_cast<int>(classes);
    Tensor u = Tensor::zeros({n * kPixels}, DType::F32);
    RandomStream(seed, 3).fill_uniform(u, lo, hi + 0.999);
    for (int64_t i = 0; i < u.numel(); ++i)
      d.pixels.push_back(static_cast<uint8_t>(std::floor(u.data<float>()[i])));
    std::vector<float> x(kPixels);
    for (int64_t s = 0; s < n; ++s) {
      for (int64_t i = 0; i < kPixels; ++i) x[static_cast<size_t>(i)] = d.pixel(s * kPixels + i);
      d.labels.push_back(predict(x.data()));
    }
    return d;
  }
};

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (std::to_string(getpid()) + "_" + name))
      .string();
}

AttackBatch batch_of(const Dataset& d, int64_t first, int64_t batch) {
  AttackBatch a;
  a.images = Tensor::zeros({batch, 4, 4, 1}, DType::F32);
  a.labels = Tensor::zeros({batch}, DType::I32);
  a.rows = std::min(batch, d.size() - first);
  for (int64_t s = 0; s < a.rows; ++s) {
    for (int64_t i = 0; i < 16; ++i)
      a.images.data<float>()[s * 16 + i] = d.pixel((first + s) * 16 + i);
    a.labels.data<int32_t>()[s] = d.labels[static_cast<size_t>(first + s)];
  }
  return a;
}

void expect_in_ball(const AttackBatch& batch, const AttackOutcome& out, double eps) {
  for (int64_t i = 0; i < batch.rows * 16; ++i) {
    const float x = out.adversarial.data<float>()[i], x0 = batch.images.data<float>()[i];
    BOOST_REQUIRE(x >= 0 && x <= 1);
    BOOST_REQUIRE_LE(std::fabs(x - x0), eps + 1e-6);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attacks)

BOOST_AUTO_TEST_CASE(dlr_matches_hand_computations_with_ties_and_invariances) {
  // sorted logits [2, 1, 0.5, -1]: z_pi1 - z_pi3 = 1.5
  const std::vector<std::vector<float>> z = {
      {2, 1, 0.5f, -1}, {2, 1, 0.5f, -1}, {1, 1, 1, 0}, {2, 2, 1, 0}, {3, 3, 0, 0}};
  const std::vector<int32_t> y = {0, 2, 0, 2, 1};
  const std::vector<double> dlr = losses_of(z, y, {}, SampleLossAttrs::Dlr);
  BOOST_CHECK_CLOSE(dlr[0], -(2.0 - 1.0) / 1.5, 1e-4);  // correct: negative
  BOOST_CHECK_CLOSE(dlr[1], -(0.5 - 2.0) / 1.5, 1e-4);  // wrong: positive
  BOOST_CHECK_SMALL(dlr[2], 1e-6);  // a three-way tie: numerator 0 (denominator only 1e-12)
  BOOST_CHECK_CLOSE(dlr[3], -(1.0 - 2.0) / (2.0 - 1.0), 1e-4);  // tied top two, pi3 = 1
  BOOST_CHECK_SMALL(dlr[4], 1e-6);  // the label tied with the top other class
  // targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)
  const std::vector<double> targeted =
      losses_of({z[0], z[0]}, {0, 1}, {3, 2}, SampleLossAttrs::DlrTargeted);
  BOOST_CHECK_CLOSE(targeted[0], -(2.0 + 1.0) / (2.0 - (0.5 - 1.0) / 2), 1e-4);
  BOOST_CHECK_CLOSE(targeted[1], -(1.0 - 0.5) / 2.25, 1e-4);
  // Shift and scale invariance: 3 z + 5 gives the same losses.
  std::vector<std::vector<float>> moved = z;
  for (auto& row : moved)
    for (float& v : row) v = 3 * v + 5;
  const std::vector<double> again = losses_of(moved, y, {}, SampleLossAttrs::Dlr);
  for (size_t i = 0; i < dlr.size(); ++i) BOOST_CHECK_SMALL(again[i] - dlr[i], 1e-5);
  const std::vector<double> t_again =
      losses_of({moved[0], moved[0]}, {0, 1}, {3, 2}, SampleLossAttrs::DlrTargeted);
  BOOST_CHECK_SMALL(t_again[0] - targeted[0], 1e-5);
  // The oneDNN backend's loops agree; cross-entropy and the target margin too.
  const std::vector<double> onednn = losses_of(z, y, {}, SampleLossAttrs::Dlr, "onednn");
  for (size_t i = 0; i < dlr.size(); ++i) BOOST_CHECK_SMALL(onednn[i] - dlr[i], 1e-6);
  const std::vector<double> ce = losses_of({{0, 0, 0, 0}}, {1}, {}, SampleLossAttrs::CrossEntropy);
  BOOST_CHECK_CLOSE(ce[0], std::log(4.0), 1e-4);
  const std::vector<double> margin = losses_of({z[0]}, {0}, {3}, SampleLossAttrs::TargetMargin);
  BOOST_CHECK_CLOSE(margin[0], 3.0, 1e-4);
}

BOOST_AUTO_TEST_CASE(dlr_needs_three_classes_and_targeted_four) {
  Graph g;
  Val z{&g, g.input("z", {2, 3})};
  Val y{&g, g.input("y", {2}, DType::I32)};
  BOOST_CHECK_NO_THROW(sample_loss(z, y, SampleLossAttrs{SampleLossAttrs::Dlr}));
  BOOST_CHECK_THROW(sample_loss(z, y, y, SampleLossAttrs{SampleLossAttrs::DlrTargeted}), Error);
  Val z2{&g, g.input("z2", {2, 2})};
  BOOST_CHECK_THROW(sample_loss(z2, y, SampleLossAttrs{SampleLossAttrs::Dlr}), Error);
}

BOOST_AUTO_TEST_CASE(apgd_checkpoints_follow_the_paper_schedule) {
  BOOST_TEST(apgd_checkpoints(100) == (std::vector<int>{21, 40, 56, 69, 79, 86, 92, 98}),
             boost::test_tools::per_element());
  // Short runs: the gaps never drop below one iteration.
  BOOST_TEST(apgd_checkpoints(10) == (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(apgd_halves_on_oscillation_and_on_stalled_best_loss) {
  // Five samples over 41 scripted iterations (checkpoints at 21 and 40):
  //   0: rises every step                      -> never halves
  //   1: constant                              -> halves at 21 (no rise), and at 40
  //   2: rises 10 steps, then flat             -> halves at 21 (10 <= 0.75 * 22)
  //   3: rises 17 of 22 steps, then flat       -> keeps at 21 (17 > 16.5), halves at 40
  //   4: rises to 21, drops, rises slowly      -> keeps at 21; at 40 it rose in 18 of 19 steps
  //      (not oscillating) but its best did not improve since 21 and it did not halve there
  ApgdStepSchedule schedule(100, 0.2, 0.75);
  schedule.start({0, 0, 0, 0, 0});
  std::vector<std::vector<int>> halved_at(5);
  for (int i = 0; i <= 40; ++i) {
    std::vector<double> loss = {double(i + 1), 0, double(std::min(i + 1, 10)),
                                double(std::min(i + 1, 17)),
                                i <= 21 ? double(i + 1) : -100.0 + (i - 22)};
    schedule.observe(i, loss);
    for (size_t s = 0; s < 5; ++s)
      if (schedule.halved()[s]) halved_at[s].push_back(i);
  }
  BOOST_TEST(halved_at[0].empty());
  BOOST_TEST(halved_at[1] == (std::vector<int>{21, 40}), boost::test_tools::per_element());
  BOOST_TEST(halved_at[2] == (std::vector<int>{21, 40}), boost::test_tools::per_element());
  BOOST_TEST(halved_at[3] == (std::vector<int>{40}), boost::test_tools::per_element());
  BOOST_TEST(halved_at[4] == (std::vector<int>{40}), boost::test_tools::per_element());
  BOOST_CHECK_CLOSE(schedule.step(0), 0.2, 1e-9);
  BOOST_CHECK_CLOSE(schedule.step(1), 0.05, 1e-9);
  BOOST_CHECK_CLOSE(schedule.best(4), 22, 1e-9);
}

BOOST_AUTO_TEST_CASE(apgd_reaches_the_closed_form_worst_case_of_a_linear_model) {
  LinearModel lm(64, 5, 7);
  const Dataset d = lm.dataset(64, 90, 165, 11);
  const double eps = 0.07;
  AttackModel am(lm.model, *lm.variables);
  const AttackBatch batch = batch_of(d, 0, 64);
  int64_t closed_form = 0, ambiguous = 0;
  std::vector<uint8_t> should(64);
  for (int64_t s = 0; s < 64; ++s) {
    const double m =
        lm.worst_margin(batch.images.data<float>() + s * 16, batch.labels.data<int32_t>()[s], eps);
    should[static_cast<size_t>(s)] = m < 0;
    closed_form += m < 0;
    ambiguous += std::fabs(m) < 1e-4;
  }
  BOOST_TEST_MESSAGE("closed form: " << closed_form << " of 64 points can be fooled");
  BOOST_REQUIRE(closed_form > 8 && closed_form < 56);  // a test with both kinds of points
  BOOST_REQUIRE_EQUAL(ambiguous, 0);
  ApgdConfig t;
  t.loss = ApgdLoss::DlrTargeted;
  t.epsilon = eps;
  ApgdAttack apgd_t(am, t);
  AttackOutcome out;
  apgd_t.run(batch, out);
  expect_in_ball(batch, out, eps);
  for (int64_t s = 0; s < 64; ++s)
    BOOST_CHECK_EQUAL(out.fooled[static_cast<size_t>(s)], should[static_cast<size_t>(s)]);
  ApgdConfig ce;
  ce.epsilon = eps;
  ApgdAttack apgd_ce(am, ce);
  apgd_ce.run(batch, out);
  expect_in_ball(batch, out, eps);
  int64_t found = 0;
  for (int64_t s = 0; s < 64; ++s) {
    BOOST_CHECK(!out.fooled[static_cast<size_t>(s)] || should[static_cast<size_t>(s)]);
    found += out.fooled[static_cast<size_t>(s)];
  }
  BOOST_CHECK_GE(found, closed_form * 9 / 10);  // untargeted CE: nearly all of them
  SquareConfig sq;
  sq.epsilon = eps;
  sq.queries = 1000;
  SquareAttack square(am, sq);
  square.run(batch, out);
  expect_in_ball(batch, out, eps);
  found = 0;
  for (int64_t s = 0; s < 64; ++s) {
    BOOST_CHECK(!out.fooled[static_cast<size_t>(s)] || should[static_cast<size_t>(s)]);
    found += out.fooled[static_cast<size_t>(s)];
  }
  // Random search gets close to the optimum, not to it (AutoAttack's windows never start in the
  // last row or column, so at the smallest size those pixels stay as larger windows left them):
  // measured as the share of the possible margin decrease it achieves.
  double achieved = 0;
  for (int64_t s = 0; s < 64; ++s) {
    const float* x0 = batch.images.data<float>() + s * 16;
    const float* x = out.adversarial.data<float>() + s * 16;
    const int32_t y = batch.labels.data<int32_t>()[s];
    double clean = 1e300, attacked = 1e300;
    for (int64_t t = 0; t < 5; ++t)
      if (t != y) {
        clean = std::min(clean, lm.logit(x0, y) - lm.logit(x0, t));
        attacked = std::min(attacked, lm.logit(x, y) - lm.logit(x, t));
      }
    const double possible = clean - lm.worst_margin(x0, y, eps);
    achieved += out.fooled[static_cast<size_t>(s)] ? 1.0 : (clean - attacked) / possible;
  }
  achieved /= 64;
  BOOST_TEST_MESSAGE("square: " << found << " of " << closed_form << " fooled; " << 100 * achieved
                                << "% of the possible margin decrease");
  BOOST_CHECK_GE(achieved, 0.75);  // measured: 83%
}

BOOST_AUTO_TEST_CASE(fab_finds_the_minimum_norm_of_a_linear_model) {
  LinearModel lm(32, 4, 3);
  // Pixels in [0.4, 0.6] and small margins: the closest boundary point lies inside [0, 1].
  const Dataset d = lm.dataset(32, 102, 153, 5);
  AttackModel am(lm.model, *lm.variables);
  const AttackBatch batch = batch_of(d, 0, 32);
  FabConfig f;
  f.epsilon = 0;  // count nothing: every target runs, the minimum norms are what is measured
  FabAttack fab(am, f);
  AttackOutcome out;
  fab.run(batch, out);
  int checked = 0;
  for (int64_t s = 0; s < 32; ++s) {
    const double exact =
        lm.boundary_distance(batch.images.data<float>() + s * 16, batch.labels.data<int32_t>()[s]);
    if (exact > 0.35) continue;  // the box could bind: the formula would not be the minimum
    ++checked;
    BOOST_CHECK_CLOSE(fab.minimum_norms()[static_cast<size_t>(s)], exact, 1.0);  // within 1%
  }
  BOOST_TEST_MESSAGE("FAB minimum norms checked on " << checked << " points");
  BOOST_CHECK_GE(checked, 16);
  // L2: margin / |w_y - w_t|_2 on the points close enough that the box cannot bind.
  FabConfig l2 = f;
  l2.norm = PgdNorm::L2;
  FabAttack fab_l2(am, l2);
  fab_l2.run(batch, out);
  checked = 0;
  for (int64_t s = 0; s < 32; ++s) {
    const double exact = lm.boundary_distance(batch.images.data<float>() + s * 16,
                                              batch.labels.data<int32_t>()[s], true);
    // pixels in [0.4, 0.6]: a step below 0.39 per pixel stays inside [0, 1]
    if (lm.l2_step_max(batch.images.data<float>() + s * 16, batch.labels.data<int32_t>()[s]) > 0.39)
      continue;
    ++checked;
    BOOST_CHECK_CLOSE(fab_l2.minimum_norms()[static_cast<size_t>(s)], exact, 1.0);
  }
  BOOST_TEST_MESSAGE("FAB L2 minimum norms checked on " << checked << " points");
  BOOST_CHECK_GE(checked, 4);
  // With eps at the median distance, only points within it count, and they stay in the ball.
  FabConfig g = f;
  g.epsilon = 0.05;
  FabAttack counted(am, g);
  counted.run(batch, out);
  expect_in_ball(batch, out, g.epsilon);
  for (int64_t s = 0; s < 32; ++s)
    BOOST_CHECK_EQUAL(out.fooled[static_cast<size_t>(s)],
                      counted.minimum_norms()[static_cast<size_t>(s)] <= g.epsilon);
}

BOOST_AUTO_TEST_CASE(cascade_attacks_only_robust_points_and_resumes_exactly) {
  LinearModel lm(32, 5, 7);
  const Dataset d = lm.dataset(100, 90, 165, 13);
  CascadeConfig c = cascade_for("aa", PgdNorm::Linf);
  c.epsilon = 0.03;
  c.apgd_iterations = 20;
  c.fab_iterations = 20;
  c.square_queries = 200;
  auto evaluate = [&](const std::string& state, int64_t max_batches) {
    LinearModel fresh(32, 5, 7);  // a new graph and variables: nothing carries over but the file
    EvaluationCascade cascade(fresh.model, *fresh.variables, c);
    CascadeRunOptions o;
    o.state_path = state;
    o.max_batches = max_batches;
    o.progress = false;
    o.keep_images = true;
    return cascade.run(d, o);
  };
  const CascadeResult whole = evaluate("", -1);
  BOOST_REQUIRE(whole.finished);
  BOOST_REQUIRE_EQUAL(whole.attacks.size(), 4u);
  BOOST_CHECK_EQUAL(whole.clean_correct, 100);
  // Each attack runs on exactly the points the earlier ones left robust.
  int64_t robust = whole.clean_correct;
  for (const AttackReport& a : whole.attacks) {
    BOOST_CHECK_EQUAL(a.attacked, robust);
    robust -= a.fooled;
  }
  BOOST_CHECK_EQUAL(whole.robust, robust);
  int64_t per_sample = 0;
  for (int32_t f : whole.fooled_by) per_sample += f == -1;
  BOOST_CHECK_EQUAL(whole.robust, per_sample);
  BOOST_CHECK_GT(whole.attacks[0].fooled, 0);
  // Every fooled point's saved image is misclassified and inside the ball.
  for (int64_t i = 0; i < d.size(); ++i) {
    const float* x = whole.adversarial.data<float>() + i * 16;
    for (int64_t j = 0; j < 16; ++j)
      BOOST_REQUIRE_LE(std::fabs(x[j] - d.pixel(i * 16 + j)), 0.03 + 1e-6);
    if (whole.fooled_by[static_cast<size_t>(i)] >= 0)
      BOOST_CHECK_NE(lm.predict(x), d.labels[static_cast<size_t>(i)]);
  }
  // Interrupted after 2 batches, twice, then finished: the same outcome per sample.
  const std::string state = temp_path("cascade_state.h5");
  std::filesystem::remove(state);
  const CascadeResult partial = evaluate(state, 2);
  BOOST_CHECK(!partial.finished);
  evaluate(state, 2);
  const CascadeResult resumed = evaluate(state, -1);
  BOOST_REQUIRE(resumed.finished);
  BOOST_TEST(resumed.fooled_by == whole.fooled_by, boost::test_tools::per_element());
  for (size_t s = 0; s < whole.attacks.size(); ++s)
    BOOST_CHECK_EQUAL(resumed.attacks[s].fooled, whole.attacks[s].fooled);
  BOOST_CHECK_EQUAL(max_relative_error(resumed.adversarial, whole.adversarial), 0);
  std::filesystem::remove(state);
}

BOOST_AUTO_TEST_CASE(a_state_file_of_another_evaluation_is_refused) {
  LinearModel lm(32, 5, 7);
  const Dataset d = lm.dataset(40, 90, 165, 13);
  CascadeConfig c = cascade_for("apgd-ce", PgdNorm::Linf);
  c.epsilon = 0.03;
  c.apgd_iterations = 5;
  const std::string state = temp_path("cascade_other.h5");
  std::filesystem::remove(state);
  CascadeRunOptions o;
  o.state_path = state;
  o.progress = false;
  {
    EvaluationCascade cascade(lm.model, *lm.variables, c);
    cascade.run(d, o);
  }
  c.epsilon = 0.05;
  LinearModel other(32, 5, 7);
  EvaluationCascade cascade(other.model, *other.variables, c);
  BOOST_CHECK_EXCEPTION(cascade.run(d, o), Error, [](const Error& e) {
    return std::string(e.what()).find("belongs to another evaluation") != std::string::npos;
  });
  std::filesystem::remove(state);
}

BOOST_AUTO_TEST_SUITE_END()
