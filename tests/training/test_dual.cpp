// Issue 16 by hand: RT-ER's second-choice ranking and its loss, the dual model's logits (alpha 0
// and 1 give the single models bit for bit) and its input gradient against finite differences,
// and the dual model's refusals.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "datasets/registry.h"
#include "models/dual_model.h"
#include "models/registry.h"
#include "ops/losses.h"
#include "training/methods/methods.h"
#include "training/trainer.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

ModelConfig tiny_moe(int experts) {
  ModelConfig c;
  c.batch = 8;
  c.variant = "moe";
  c.ratio = 0.25;
  c.experts = experts;
  return c;
}

// log softmax of row n of z [N, K], in double.
std::vector<double> log_softmax_row(const Tensor& z, int64_t n) {
  const int64_t k = z.shape()[1];
  double top = -1e300, s = 0;
  for (int64_t j = 0; j < k; ++j) top = std::max(top, z.item(n * k + j));
  for (int64_t j = 0; j < k; ++j) s += std::exp(z.item(n * k + j) - top);
  std::vector<double> out(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j)
    out[static_cast<size_t>(j)] = z.item(n * k + j) - top - std::log(s);
  return out;
}

// Copies every Param and Buffer `m` names from `from` into `to`.
void copy_weights(const Model& m, Variables& from, Variables& to, const std::string& prefix = "") {
  for (ValueId id = 0; id < m.graph->num_values(); ++id) {
    const ValueInfo& info = m.graph->value(id);
    if (info.role == Role::Param || info.role == Role::Buffer)
      to.set(info.name, from.get(prefix + info.name).clone());
  }
}

// `config`'s logits on `inputs` in `mode`, the weights from `weights` (under `prefix`).
Tensor logits_of(const ModelConfig& config, Variables& weights, Mode mode,
                 const std::map<std::string, Tensor>& inputs, const std::string& prefix = "") {
  Model m = build_model(config);
  Variables v(weights.backend());
  copy_weights(m, weights, v, prefix);
  for (const auto& [name, t] : inputs) v.set(name, t);
  auto plan = compile(*m.graph, v, CompileOptions{mode, {m.logits.id}, {}});
  plan->run();
  return v.get("logits").clone();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dual_model)

BOOST_AUTO_TEST_CASE(second_choice_is_the_second_highest_mean_router_probability) {
  // Two routers, three experts, two samples. Sample 0: router 0 softmax of (0, 1, 2) gives
  // (0.090, 0.245, 0.665), router 1 of (2, 0, 0) gives (0.787, 0.107, 0.107): means (0.439,
  // 0.176, 0.386) -> ranking 0, 2, 1: second choice 2. Sample 1: all logits equal: ties go to the
  // lower index, ranking 0, 1, 2: second choice 1.
  const float r0[] = {0, 1, 2, 5, 5, 5};
  const float r1[] = {2, 0, 0, -1, -1, -1};
  std::vector<int32_t> second = second_choices({r0, r1}, 2, 3);
  BOOST_TEST(second == (std::vector<int32_t>{2, 1}), boost::test_tools::per_element());
  // One router (global routing): its own second choice.
  const float g[] = {3, 1, 2, 0, 4, 1};
  BOOST_TEST(second_choices({g}, 2, 3) == (std::vector<int32_t>{2, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(error_of([&] { second_choices({g}, 2, 1); }).find("at least 2 experts") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(rt_er_loss_equals_a_hand_computation) {
  // L = CE(f(x'), y) + beta * (1/B) sum_i KL(p_{e_i}(x_i) || p_{e_i}(x'_{e_i, i})), e_i the
  // sample's second choice, p_e pathway e (every MoE layer on expert e). Train-mode BN: each
  // forward's logits depend on its own batch only, so the pieces are recomputed by independent
  // train-mode forwards of the same weights.
  ModelConfig c = tiny_moe(3);
  Model m = build_model(c);
  auto backend = make_backend("onednn");
  MethodConfig method;
  method.method = Method::RtEr;
  method.epsilon = 0.1;
  method.beta = 6;
  Trainer trainer(m, *backend, TrainConfig{}, method);
  Variables& v = trainer.variables();
  auto& rt_er = dynamic_cast<RtErTraining&>(trainer.method());
  Tensor x = random_tensor({8, 28, 28, 1}, DType::F32, 1, 0, 1);
  Tensor x_adv = random_tensor({8, 28, 28, 1}, DType::F32, 2, 0, 1);
  Tensor x_path = random_tensor({8, 28, 28, 1}, DType::F32, 3, 0, 1);
  Tensor labels = Tensor::zeros({8}, DType::I32);
  for (int i = 0; i < 8; ++i) labels.data<int32_t>()[i] = (3 * i) % 10;
  v.set("images", x);
  v.set("labels", labels);
  // The ranking plumbing: the route input holds second_choices of the routers' eval-mode logits.
  rt_er.set_second_choices();
  std::vector<const float*> router_logits;
  for (size_t i = 0; i < m.routers.size(); ++i)
    router_logits.push_back(v.get("rt_er.router_logits/" + std::to_string(i)).data<float>());
  std::vector<int32_t> expected_route = second_choices(router_logits, 8, 3);
  Tensor route = v.get("rt_er.second_choice").clone();
  for (int i = 0; i < 8; ++i) BOOST_TEST(route.data<int32_t>()[i] == expected_route[i]);
  // ... and they are eval-mode router logits of x: the standalone model's routers agree.
  Model eval_model = build_model(c);
  for (size_t i = 0; i < eval_model.routers.size(); ++i)
    eval_model.graph->mark_output(eval_model.routers[i].logits.id, "z/" + std::to_string(i));
  Variables ev(*backend);
  copy_weights(eval_model, v, ev);
  ev.set("images", x);
  CompileOptions eo{Mode::Eval, {}, {}};
  for (const auto& r : eval_model.routers) eo.targets.push_back(r.logits.id);
  compile(*eval_model.graph, ev, eo)->run();
  for (size_t i = 0; i < m.routers.size(); ++i)
    BOOST_TEST(same_bytes(ev.get("z/" + std::to_string(i)),
                          v.get("rt_er.router_logits/" + std::to_string(i))));

  v.set("adv_images", x_adv);
  v.set("rt_er.pathway_adv_images", x_path);
  trainer.method().scored_plan().run();  // learning rate 0: the weights stay
  const double loss = v.get("loss").item(0);
  Tensor adv_logits = logits_of(c, v, Mode::Train, {{"images", x_adv}});
  ModelConfig fed = c;
  fed.route_source = "input";
  std::map<std::string, Tensor> clean_in{{"images", x}}, path_in{{"images", x_path}};
  for (const auto& [module, value] : m.routes) {
    clean_in["route/" + module] = route;
    path_in["route/" + module] = route;
  }
  Tensor p_clean = logits_of(fed, v, Mode::Train, clean_in);
  Tensor p_adv = logits_of(fed, v, Mode::Train, path_in);
  double ce = 0, kl = 0;
  for (int n = 0; n < 8; ++n) {
    ce -= log_softmax_row(adv_logits, n)[static_cast<size_t>((3 * n) % 10)];
    std::vector<double> lp = log_softmax_row(p_clean, n), lq = log_softmax_row(p_adv, n);
    for (size_t k = 0; k < 10; ++k) kl += std::exp(lp[k]) * (lp[k] - lq[k]);
  }
  BOOST_TEST(kl > 0);
  BOOST_TEST(loss == ce / 8 + 6.0 * kl / 8, boost::test_tools::tolerance(1e-4));
  BOOST_TEST(v.get("rt_er.kl").item(0) == kl / 8, boost::test_tools::tolerance(1e-4));
}

BOOST_AUTO_TEST_CASE(one_batch_with_per_sample_routes_equals_the_per_expert_batches) {
  // RT-ER attacks every sample against its own second-choice pathway in one eval-mode batch.
  // That equals running, for each expert e, the batch of its samples through pathway e: in eval
  // mode each row depends on its own input and route only.
  ModelConfig c = tiny_moe(3);
  c.route_source = "input";
  Model m = build_model(c);
  auto backend = make_backend("onednn");
  Variables weights(*backend);
  initialize_parameters(m, weights, 9);
  Tensor x = random_tensor({8, 28, 28, 1}, DType::F32, 10, 0, 1);
  const int32_t second[8] = {2, 0, 1, 2, 2, 1, 0, 0};
  auto with_route = [&](const std::function<int32_t(int64_t)>& route_of) {
    std::map<std::string, Tensor> in{{"images", x}};
    Tensor route = Tensor::zeros({8}, DType::I32);
    for (int64_t s = 0; s < 8; ++s) route.data<int32_t>()[s] = route_of(s);
    for (const auto& [module, value] : m.routes) in["route/" + module] = route;
    return logits_of(c, weights, Mode::Eval, in);
  };
  Tensor mixed = with_route([&](int64_t s) { return second[s]; });
  for (int32_t e = 0; e < 3; ++e) {
    Tensor batch_e = with_route([&](int64_t) { return e; });  // pathway e on every sample
    for (int64_t s = 0; s < 8; ++s)
      if (second[s] == e)
        for (int64_t k = 0; k < 10; ++k)
          BOOST_TEST(mixed.item(s * 10 + k) == batch_e.item(s * 10 + k),
                     boost::test_tools::tolerance(1e-5));
  }
}

BOOST_AUTO_TEST_CASE(rt_er_attacks_stay_in_the_ball_and_differ) {
  ModelConfig c = tiny_moe(2);
  Model m = build_model(c);
  auto backend = make_backend("onednn");
  MethodConfig method;
  method.method = Method::RtEr;
  method.epsilon = 0.1;
  Trainer trainer(m, *backend, TrainConfig{}, method);
  Variables& v = trainer.variables();
  Tensor x = random_tensor({8, 28, 28, 1}, DType::F32, 4, 0, 1);
  Tensor labels = Tensor::zeros({8}, DType::I32);
  for (int i = 0; i < 8; ++i) labels.data<int32_t>()[i] = i % 10;
  const double loss = trainer.method().iterate({{x, labels}}, 7, 0.01, [](double) {});
  BOOST_TEST(std::isfinite(loss));
  const Tensor& a = v.get("adv_images");
  const Tensor& p = v.get("rt_er.pathway_adv_images");
  double max_a = 0, max_p = 0, apart = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    max_a = std::max(max_a, std::abs(a.item(i) - x.item(i)));
    max_p = std::max(max_p, std::abs(p.item(i) - x.item(i)));
    apart = std::max(apart, std::abs(a.item(i) - p.item(i)));
  }
  BOOST_TEST(max_a <= 0.1 + 1e-6);
  BOOST_TEST(max_p <= 0.1 + 1e-6);
  BOOST_TEST(max_a > 0.05);
  BOOST_TEST(apart > 0.01);  // two attacks on two objectives
  // With 2 experts the second choice is the expert the sample is not routed to (global rank).
  BOOST_TEST(error_of([&] {
               ModelConfig one = tiny_moe(1);
               Model single = build_model(one);
               Trainer t(single, *backend, TrainConfig{}, method);
             }).find("at least 2 experts") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(dual_logits_are_the_alpha_combination_and_the_ends_are_the_single_models) {
  auto backend = make_backend("onednn");
  ModelConfig standard = tiny_moe(2), robust = tiny_moe(2);
  robust.routing = "global";  // the halves may differ
  Tensor x = random_tensor({8, 28, 28, 1}, DType::F32, 5, 0, 1);
  Model s = build_model(standard), r = build_model(robust);
  Variables weights(*backend);
  initialize_parameters(s, weights, 11);
  Variables robust_weights(*backend);
  initialize_parameters(r, robust_weights, 12);
  Tensor zs = logits_of(standard, weights, Mode::Eval, {{"images", x}});
  Tensor zr = logits_of(robust, robust_weights, Mode::Eval, {{"images", x}});
  for (double alpha : {0.0, 0.3, 1.0}) {
    Model d = build_dual_model(standard, robust, alpha);
    Variables v(*backend);
    for (ValueId id = 0; id < s.graph->num_values(); ++id) {
      const ValueInfo& info = s.graph->value(id);
      if (info.role == Role::Param || info.role == Role::Buffer)
        v.set(kStandardScope + info.name, weights.get(info.name));
    }
    for (ValueId id = 0; id < r.graph->num_values(); ++id) {
      const ValueInfo& info = r.graph->value(id);
      if (info.role == Role::Param || info.role == Role::Buffer)
        v.set(kRobustScope + info.name, robust_weights.get(info.name));
    }
    BOOST_TEST(d.routes.size() == s.routes.size() + r.routes.size());
    v.set("images", x);
    compile(*d.graph, v, CompileOptions{Mode::Eval, {d.logits.id}, {}})->run();
    const Tensor& z = v.get("logits");
    if (alpha == 0) BOOST_TEST(same_bytes(z, zs));
    if (alpha == 1) BOOST_TEST(same_bytes(z, zr));
    double worst = 0;
    for (int64_t i = 0; i < z.numel(); ++i)
      worst =
          std::max(worst, std::abs(z.item(i) - ((1 - alpha) * zs.item(i) + alpha * zr.item(i))));
    BOOST_TEST(worst < 1e-5);
  }
}

BOOST_AUTO_TEST_CASE(dual_input_gradient_matches_finite_differences) {
  // float64 reference backend: d CE(F(x), y) / dx against central differences along random
  // directions, F the dual combination at alpha 0.3.
  auto backend = make_backend("reference");
  ModelConfig c = tiny_moe(2);
  c.batch = 2;
  c.dtype = DType::F64;
  c.image = Shape{8, 8, 1};
  Model d = build_dual_model(c, c, 0.3);
  Graph& g = *d.graph;
  Val loss = softmax_cross_entropy(d.logits, d.labels, "ce");
  g.mark_loss(loss.id, "loss");
  Gradients grads = autodiff(g, loss.id, {d.images.id});
  Variables v(*backend);
  initialize_parameters(d, v, 3);
  Tensor x = random_tensor({2, 8, 8, 1}, DType::F64, 6, 0.2, 0.8);
  Tensor labels = Tensor::zeros({2}, DType::I32);
  labels.data<int32_t>()[0] = 1;
  labels.data<int32_t>()[1] = 4;
  v.set("images", x.clone());
  v.set("labels", labels);
  auto plan = compile(g, v, CompileOptions{Mode::Eval, {loss.id, grads[d.images.id]}, {}});
  plan->run();
  Tensor grad = v.get(g.value(grads[d.images.id]).name).clone();
  for (uint64_t k = 0; k < 3; ++k) {
    Tensor dir = random_tensor({2, 8, 8, 1}, DType::F64, 20 + k, -1, 1);
    double analytic = 0;
    for (int64_t i = 0; i < dir.numel(); ++i) analytic += grad.item(i) * dir.item(i);
    const double h = 1e-5;
    auto at = [&](double t) {
      Tensor moved = x.clone();
      for (int64_t i = 0; i < moved.numel(); ++i)
        moved.data<double>()[i] = x.item(i) + t * dir.item(i);
      v.set("images", moved);
      plan->run();
      return v.get("loss").item(0);
    };
    const double numeric = (at(h) - at(-h)) / (2 * h);
    BOOST_TEST(std::abs(numeric - analytic) <= 1e-6 * std::max(1.0, std::abs(analytic)));
  }
}

namespace {

// Every Param and Buffer whose name starts with `scope`.
std::map<std::string, Tensor> half_state(const Model& m, Variables& v, const std::string& scope) {
  std::map<std::string, Tensor> out;
  for (ValueId id = 0; id < m.graph->num_values(); ++id) {
    const ValueInfo& info = m.graph->value(id);
    if ((info.role == Role::Param || info.role == Role::Buffer) && info.name.rfind(scope, 0) == 0)
      out[info.name] = v.get(info.name).clone();
  }
  return out;
}

// Whether any tensor of `before` changed; the count of those that did.
int changed_tensors(const std::map<std::string, Tensor>& before, Variables& v) {
  int n = 0;
  for (const auto& [name, t] : before) n += !same_bytes(t, v.get(name));
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(jtdmoe_steps_change_only_their_own_half) {
  ModelConfig c = tiny_moe(2);
  Model d = build_dual_model(c, c, 0.7);
  auto backend = make_backend("onednn");
  MethodConfig method;
  method.method = Method::Jtdmoe;
  method.epsilon = 0.1;
  Trainer trainer(d, *backend, TrainConfig{}, method);
  Variables& v = trainer.variables();
  auto& jtd = dynamic_cast<JtdmoeTraining&>(trainer.method());
  Tensor x = random_tensor({8, 28, 28, 1}, DType::F32, 8, 0, 1);
  Tensor labels = Tensor::zeros({8}, DType::I32);
  for (int i = 0; i < 8; ++i) labels.data<int32_t>()[i] = (7 * i) % 10;
  v.set("images", x);
  v.set("labels", labels);
  auto standard = half_state(d, v, kStandardScope), robust = half_state(d, v, kRobustScope);
  BOOST_TEST_REQUIRE(standard.size() == robust.size());
  BOOST_TEST(std::isfinite(jtd.robust_step(1, 0.05)));
  BOOST_TEST(changed_tensors(standard, v) == 0);  // (a): the standard half bit for bit
  BOOST_TEST(changed_tensors(robust, v) > 0);
  standard = half_state(d, v, kStandardScope);
  robust = half_state(d, v, kRobustScope);
  BOOST_TEST(std::isfinite(jtd.standard_step(0.05)));
  BOOST_TEST(changed_tensors(robust, v) == 0);  // (b): the robust half, BN statistics too
  BOOST_TEST(changed_tensors(standard, v) > 0);
  // Step (b)'s loss is the clean CE of the dual output it reports in "logits", whose robust part
  // is the eval-mode robust logits.
  Tensor dual = v.get("logits").clone();
  Tensor fed = v.get("jtdmoe.robust_clean_logits").clone();
  ModelConfig eval_config = c;
  Tensor robust_eval = logits_of(eval_config, v, Mode::Eval, {{"images", x}}, kRobustScope);
  BOOST_TEST(max_relative_error(fed, robust_eval, 1e-3) < 1e-5);
  double ce = 0;
  for (int n = 0; n < 8; ++n) ce -= log_softmax_row(dual, n)[static_cast<size_t>((7 * n) % 10)];
  BOOST_TEST(v.get("jtdmoe.standard_loss").item(0) == ce / 8, boost::test_tools::tolerance(1e-4));
  // Standard training methods refuse a dual model.
  Model other = build_dual_model(c, c, 0.7);
  BOOST_TEST(error_of([&] {
               Trainer t(other, *backend, TrainConfig{}, MethodConfig{});
             }).find("trained by jtdmoe") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(jtdmoe_balances_the_routers_of_both_halves) {
  ModelConfig c = tiny_moe(2);
  c.batch = 32;
  c.router_input = "standardized";
  Model d = build_dual_model(c, c, 0.7);
  auto backend = make_backend("onednn");
  MethodConfig method;
  method.method = Method::Jtdmoe;
  method.epsilon = 0.1;
  TrainConfig tc;
  tc.balance_rate = 0.1;
  Trainer trainer(d, *backend, tc, method);
  // Five steps (each moves an offset by +-0.1 or, on an exact tie, not at all; an even count of
  // alternating moves can end at zero): both halves' routers have moved.
  Dataset train = load_dataset("fashion-mnist", "", "train", 320);
  for (int i = 0; i < 5; ++i) trainer.iterate(train);
  BOOST_TEST_REQUIRE(d.routers.size() == 6u);
  std::map<std::string, int> moved;
  for (const Model::Router& r : d.routers) {
    const std::string name = d.graph->value(r.offset.id).name;
    const Tensor& offsets = trainer.variables().get(name + "_train");
    const bool nonzero = offsets.item(0) != 0 || offsets.item(1) != 0;
    moved[name.substr(0, 4)] += nonzero;
    // Two experts: the moves are opposite, so the offsets sum to zero.
    BOOST_TEST(offsets.item(0) + offsets.item(1) == 0.0, boost::test_tools::tolerance(1e-6));
  }
  BOOST_TEST(moved[kStandardScope] > 0);
  BOOST_TEST(moved[kRobustScope] > 0);
}

BOOST_AUTO_TEST_CASE(dual_model_refuses_bad_alpha_and_mismatched_halves) {
  ModelConfig a = tiny_moe(2), b = tiny_moe(2);
  BOOST_TEST(error_of([&] { build_dual_model(a, b, 1.5); }).find("alpha must be in [0, 1]") !=
             std::string::npos);
  BOOST_TEST(error_of([&] { build_dual_model(a, b, std::nan("")); }).find("alpha") !=
             std::string::npos);
  b.classes = 5;
  BOOST_TEST(error_of([&] { build_dual_model(a, b, 0.5); }).find("different class counts") !=
             std::string::npos);
  b = tiny_moe(4);
  BOOST_TEST(error_of([&] { build_dual_model(a, b, 0.5); }).find("different expert counts") !=
             std::string::npos);
  b = tiny_moe(2);
  b.image = Shape{32, 32, 3};
  BOOST_TEST(error_of([&] { build_dual_model(a, b, 0.5); }).find("different images") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
