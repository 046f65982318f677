// Sparse-CNN (HYDRA) by hand: the top-k masks (structured and unstructured, ties) on every CPU
// backend, the straight-through gradient, the scores' initialization, the default keep ratio
// against the MoE pathway's parameter count, and the compact export against the masked model.
#include <boost/test/unit_test.hpp>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "models/registry.h"
#include "models/sparse_model.h"
#include "ops/basic.h"
#include "ops/sparse.h"

using namespace advmoe;
using namespace advmoe::testing;

BOOST_AUTO_TEST_SUITE(sparse)

namespace {

// topk_mask of `scores` [rows, cols] on `backend`: {mask, filter_mask} as host vectors.
std::pair<std::vector<double>, std::vector<double>> run_mask(const std::string& backend,
                                                             const std::vector<float>& scores,
                                                             int64_t rows, double keep,
                                                             bool structured) {
  Graph g(DType::F32);
  Val s{&g, g.input("scores", {rows, static_cast<int64_t>(scores.size()) / rows})};
  TopkMask m = topk_mask(s, keep, structured);
  g.mark_output(m.mask.id, "mask");
  g.mark_output(m.filter_mask.id, "filter_mask");
  auto b = make_backend(backend);
  Variables v(*b);
  auto plan = compile(g, v);
  std::copy(scores.begin(), scores.end(), v.get("scores").data<float>());
  plan->run();
  std::pair<std::vector<double>, std::vector<double>> out;
  for (int64_t i = 0; i < v.get("mask").numel(); ++i) out.first.push_back(v.get("mask").item(i));
  for (int64_t i = 0; i < rows; ++i) out.second.push_back(v.get("filter_mask").item(i));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(unstructured_mask_keeps_the_largest_magnitudes_ties_to_the_lower_index) {
  // |s| = .5 .9 .1 / .9 .2 .5; keep 0.5 of 6 -> 3: both .9, then the first .5 (index 0, not 5).
  const std::vector<float> s{0.5f, -0.9f, 0.1f, 0.9f, 0.2f, -0.5f};
  for (const char* backend : {"reference", "onednn"}) {
    auto [mask, filters] = run_mask(backend, s, 2, 0.5, false);
    BOOST_TEST(mask == (std::vector<double>{1, 1, 0, 1, 0, 0}), boost::test_tools::per_element());
    BOOST_TEST(filters == (std::vector<double>{1, 1}), boost::test_tools::per_element());
  }
  // keep 0.1 of 6 rounds to 1, never 0: the first .9.
  BOOST_TEST(
      run_mask("reference", s, 2, 0.1, false).first == (std::vector<double>{0, 1, 0, 0, 0, 0}),
      boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(structured_mask_keeps_whole_filters_by_score_l1_norm) {
  // Filters' L1 norms: 1.0, 3.0, 1.0, 2.0; keep 0.5 of 4 -> 2: filters 1 and 3. keep 0.75 -> 3:
  // also filter 0 (tied with filter 2 at 1.0; the lower index wins).
  const std::vector<float> s{0.5f, -0.5f, 1.0f, 2.0f, -1.0f, 0.0f, 1.0f, -1.0f};
  for (const char* backend : {"reference", "onednn"}) {
    auto [mask, filters] = run_mask(backend, s, 4, 0.5, true);
    BOOST_TEST(mask == (std::vector<double>{0, 0, 1, 1, 0, 0, 1, 1}),
               boost::test_tools::per_element());
    BOOST_TEST(filters == (std::vector<double>{0, 1, 0, 1}), boost::test_tools::per_element());
    BOOST_TEST(run_mask(backend, s, 4, 0.75, true).second == (std::vector<double>{1, 1, 0, 1}),
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(kept_items_rounds_and_never_keeps_none) {
  BOOST_TEST(kept_items(0.5, 7) == 4);  // 3.5 rounds away from zero
  BOOST_TEST(kept_items(0.01, 7) == 1);
  BOOST_TEST(kept_items(1.0, 7) == 7);
}

BOOST_AUTO_TEST_CASE(straight_through_gradient_goes_from_the_mask_to_the_scores) {
  // L = sum((w * mask(s)) * R): dL/dw = R * mask, dL/ds = R * w (HYDRA: d mask / d s = 1).
  Graph g(DType::F64);
  Val w{&g, g.param("w", {3, 4})}, s{&g, g.param("s", {3, 4}, "scores")};
  Val r{&g, g.input("projection", {3, 4})};
  Val masked = w * topk_mask(s, 0.5, true).mask;
  Val loss = sum(masked * r);
  g.mark_loss(loss.id, "loss");
  autodiff(g, loss.id, {w.id, s.id});
  auto backend = make_backend("reference");
  Variables v(*backend);
  auto plan = compile(g, v);
  v.set("w", random_tensor({3, 4}, DType::F64, 1));
  v.set("projection", random_tensor({3, 4}, DType::F64, 2));
  const double scores[12] = {1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, -2, 2, 0, 0};  // keeps rows 0, 2
  std::copy(scores, scores + 12, v.get("s").data<double>());
  plan->run();
  for (int i = 0; i < 12; ++i) {
    double m = i / 4 == 1 ? 0.0 : 1.0;
    BOOST_TEST(v.get("grad/w").item(i) == v.get("projection").item(i) * m,
               boost::test_tools::tolerance(1e-12));
    BOOST_TEST(v.get("grad/s").item(i) == v.get("projection").item(i) * v.get("w").item(i),
               boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(hydra_scores_follow_the_scaled_rule) {
  // s = sqrt(6 / fan_in) * W / max|W|, fan_in = 3 per row here.
  Tensor w = Tensor::zeros({2, 3}, DType::F32);
  const float values[6] = {0.2f, -0.4f, 0.1f, 0.05f, 0.0f, -0.3f};
  std::copy(values, values + 6, w.data<float>());
  Tensor s = hydra_scores(w);
  for (int i = 0; i < 6; ++i)
    BOOST_TEST(s.item(i) == std::sqrt(6.0 / 3.0) * values[i] / 0.4,
               boost::test_tools::tolerance(1e-6));
  BOOST_TEST(hydra_scores(Tensor::zeros({2, 3}, DType::F32)).item(4) == 0.0);
}

BOOST_AUTO_TEST_CASE(default_keep_matches_one_moe_pathway) {
  // SmallCNN at r = 0.5, N = 2: conv1 16x3x3x1, experts of conv2..4: 32x3x3x16, 64x3x3x32,
  // 128x3x3x64, fc 10x128, against the dense 32x3x3x1, 64x3x3x32, 128x3x3x64, 256x3x3x128,
  // 10x256.
  ModelConfig c;
  c.variant = "sparse";
  c.ratio = 0.5;
  c.mask = "unstructured";
  KeepDefault k = default_keep(c, 2);
  const int64_t pathway = 16 * 9 + 32 * 9 * 16 + 64 * 9 * 32 + 128 * 9 * 64 + 10 * 128;
  const int64_t dense = 32 * 9 + 64 * 9 * 32 + 128 * 9 * 64 + 256 * 9 * 128 + 10 * 256;
  BOOST_TEST(k.pathway_weights == pathway);
  BOOST_TEST(k.masked_weights == dense);
  BOOST_TEST(k.keep == static_cast<double>(pathway) / dense);
  c.mask = "structured";
  BOOST_TEST(default_keep(c, 2).keep == 0.5);  // r of the filters: the pathway's width
}

namespace {

// Eval-mode logits of `model` on `images` with `tensors` as its parameters and buffers.
Tensor logits_of(const Model& model, const std::map<std::string, Tensor>& tensors,
                 const Tensor& images) {
  auto backend = make_backend("onednn");
  Variables v(*backend);
  for (const auto& [name, t] : tensors) v.set(name, t);
  v.set("images", images);
  auto plan = compile(*model.graph, v, CompileOptions{Mode::Eval, {model.logits.id}});
  plan->run();
  return v.get("logits").clone();
}

std::map<std::string, Tensor> random_tensors(const Model& m, uint64_t seed) {
  auto backend = make_backend("reference");
  Variables v(*backend);
  initialize_parameters(m, v, seed);
  std::map<std::string, Tensor> out;
  uint64_t k = 0;
  for (ValueId id = 0; id < m.graph->num_values(); ++id) {
    const ValueInfo& info = m.graph->value(id);
    if (info.role != Role::Param && info.role != Role::Buffer) continue;
    Tensor t = v.get(info.name).clone();
    // Scores, BN statistics and affine away from their initial values, so every kept entry
    // matters and the masks are not ties.
    if (info.group == "scores" || info.name.find("bn") != std::string::npos) {
      Tensor r = random_tensor(info.shape, DType::F32, seed * 100 + ++k, 0.5, 1.5);
      t = r;
    }
    out[info.name] = t;
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(compact_export_gives_the_masked_models_logits) {
  ModelConfig c;
  c.batch = 6;
  c.variant = "sparse";
  c.keep = 0.375;
  Model sparse = build_model(c);
  std::map<std::string, Tensor> tensors = random_tensors(sparse, 3);
  Model compact = build_model(compact_config(sparse));
  BOOST_TEST(compact.config.variant == "sdense");
  BOOST_TEST(compact.config.ratio == 0.375);
  std::map<std::string, Tensor> kept = compact_tensors(sparse, tensors, compact);
  Tensor images = random_tensor({6, 28, 28, 1}, DType::F32, 9, 0, 1);
  Tensor a = logits_of(sparse, tensors, images), b = logits_of(compact, kept, images);
  BOOST_TEST(max_relative_error(a, b, 1e-3) < 1e-4);
  // The masked model really is pruned: a kept filter's removal changes the logits.
  BOOST_TEST(compact.num_parameters() < sparse.num_parameters() / 4);
}

BOOST_AUTO_TEST_CASE(compact_export_refuses_what_it_cannot_compact) {
  ModelConfig c;
  c.batch = 1;
  c.variant = "sparse";
  c.keep = 0.5;
  c.mask = "unstructured";
  BOOST_TEST(error_of([&] { compact_config(build_model(c)); }).find("structured") !=
             std::string::npos);
  c.mask = "structured";
  c.arch = "resnet18";
  c.image = Shape{32, 32, 3};
  BOOST_TEST(error_of([&] { compact_config(build_model(c)); }).find("residual") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(keep_outside_its_range_is_an_error) {
  ModelConfig c;
  c.variant = "sparse";
  for (double keep : {0.0, 1.5, -0.2}) {
    c.keep = keep;
    BOOST_TEST(error_of([&] { build_model(c); }).find("keep ratio k must be in (0, 1]") !=
               std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
