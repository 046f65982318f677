// MoE nodes beyond the op table: the straight-through gradient by hand, sparse (grouped) vs
// dense-mode vs reference parity of outputs and every gradient over routing edge cases, and a
// finite-difference check of a whole MoE residual block with fixed routes.
#include <boost/test/unit_test.hpp>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "ops/basic.h"
#include "ops/batch_norm.h"
#include "ops/conv2d.h"
#include "ops/moe.h"

using namespace advmoe;
using namespace advmoe::testing;

BOOST_AUTO_TEST_SUITE(moe)

BOOST_AUTO_TEST_CASE(straight_through_gradient_matches_hand_computation) {
  // z = channel_gate(y, gate), (route, gate) = top1(logits), L = sum(z * R):
  // dL/dlogits[n, e] = [e == route[n]] * sum_k R[n, k] * y[n, k]; ties go to the lowest index.
  Graph g(DType::F64);
  Val logits{&g, g.input("logits", {4, 3})};
  Val y{&g, g.input("y", {4, 2, 2, 3})}, projection{&g, g.input("projection", {4, 2, 2, 3})};
  Route r = top1(logits);
  Val loss = sum(channel_gate(y, r.gate) * projection);
  g.mark_loss(loss.id, "loss");
  g.mark_output(r.index.id, "route");
  autodiff(g, loss.id, {logits.id});
  auto backend = make_backend("reference");
  Variables v(*backend);
  auto plan = compile(g, v);
  v.set("y", random_tensor({4, 2, 2, 3}, DType::F64, 1));
  v.set("projection", random_tensor({4, 2, 2, 3}, DType::F64, 2));
  double z[12] = {0.1, 0.9, 0.3, 2.0, 2.0, -1.0, -5, -4, -6, 0.5, 0.5, 0.5};
  std::copy(z, z + 12, v.get("logits").data<double>());
  plan->run();
  const int expected_route[4] = {1, 0, 1, 0};  // rows 1 and 3 tie: lowest index wins
  for (int n = 0; n < 4; ++n) {
    BOOST_TEST(v.get("route").item(n) == expected_route[n]);
    double dot = 0;
    for (int k = 0; k < 12; ++k)
      dot += v.get("y").item(n * 12 + k) * v.get("projection").item(n * 12 + k);
    for (int e = 0; e < 3; ++e)
      BOOST_TEST(v.get("grad/logits").item(n * 3 + e) == (e == expected_route[n] ? dot : 0.0),
                 boost::test_tools::tolerance(1e-12));
  }
}

namespace {

// Outputs and gradients of y = expert_conv(x, w, route) with L = sum(y * R) on one backend/mode.
std::map<std::string, Tensor> run_expert_conv(const std::string& backend_name, bool dense,
                                              int64_t batch, int experts, int64_t width,
                                              const std::vector<int32_t>& route) {
  Graph g(DType::F32);
  Val x{&g, g.input("x", {batch, 6, 6, 5})};
  Val w{&g, g.param("w", {experts * width, 3, 3, 5})};
  Val r{&g, g.input("route", {batch}, DType::I32)};
  Val y = expert_conv(x, w, r, experts, 1, 1, dense);
  g.mark_output(y.id, "y");
  Val loss = sum(y * Val{&g, g.input("projection", y.shape())});
  g.mark_loss(loss.id, "loss");
  autodiff(g, loss.id, {x.id, w.id});
  auto backend = make_backend(backend_name);
  Variables v(*backend);
  auto plan = compile(g, v);
  v.set("x", random_tensor({batch, 6, 6, 5}, DType::F32, 11));
  v.set("w", random_tensor({experts * width, 3, 3, 5}, DType::F32, 12));
  v.set("projection", random_tensor(y.shape(), DType::F32, 13));
  std::copy(route.begin(), route.end(), v.get("route").data<int32_t>());
  v.get("grad/w").fill(7);  // stale values must be overwritten, unused experts zeroed
  plan->run();
  return {{"y", v.get("y").clone()},
          {"grad/x", v.get("grad/x").clone()},
          {"grad/w", v.get("grad/w").clone()}};
}

}  // namespace

BOOST_AUTO_TEST_CASE(sparse_dense_and_reference_agree_on_routing_edge_cases) {
  struct Case {
    const char* what;
    int64_t batch;
    int experts;
    int64_t width;
    std::vector<int32_t> route;
  };
  std::vector<Case> cases = {
      {"all samples on one expert", 8, 4, 6, {2, 2, 2, 2, 2, 2, 2, 2}},
      {"an expert without samples", 7, 3, 5, {0, 2, 0, 2, 2, 0, 0}},
      {"batch size 1", 1, 2, 4, {1}},
      {"one expert", 5, 1, 10, {0, 0, 0, 0, 0}},
      {"two experts, r = 0.5 of 20", 9, 2, 10, {1, 0, 0, 1, 1, 1, 0, 1, 0}},
      {"four experts, r = 0.25 of 20", 13, 4, 5, {3, 1, 0, 2, 2, 1, 3, 3, 0, 1, 2, 0, 3}},
      {"eight experts, r = 0.8 of 20", 12, 8, 16, {7, 6, 5, 4, 3, 2, 1, 0, 7, 7, 0, 3}},
  };
  for (const Case& c : cases) {
    auto reference = run_expert_conv("reference", false, c.batch, c.experts, c.width, c.route);
    auto sparse = run_expert_conv("onednn", false, c.batch, c.experts, c.width, c.route);
    auto dense = run_expert_conv("onednn", true, c.batch, c.experts, c.width, c.route);
    for (const char* value : {"y", "grad/x", "grad/w"}) {
      BOOST_TEST(max_relative_error(sparse.at(value), reference.at(value)) <= 1e-5,
                 c.what << ": sparse " << value);
      BOOST_TEST(max_relative_error(dense.at(value), reference.at(value)) <= 1e-5,
                 c.what << ": dense " << value);
    }
    // Experts without samples get an exactly zero weight gradient.
    const Tensor& dw = sparse.at("grad/w");
    int64_t slice = dw.numel() / c.experts;
    for (int e = 0; e < c.experts; ++e) {
      bool used = std::find(c.route.begin(), c.route.end(), e) != c.route.end();
      double norm = 0;
      for (int64_t k = 0; k < slice; ++k) norm += std::abs(dw.item(e * slice + k));
      BOOST_TEST((used ? norm > 0 : norm == 0), c.what << ": expert " << e);
    }
  }
}

BOOST_AUTO_TEST_CASE(route_outside_the_experts_is_an_error) {
  BOOST_TEST(error_of([] {
               run_expert_conv("onednn", false, 3, 2, 4, {0, 2, 1});
             }).find("sample 1 is routed to expert 2 of 2") != std::string::npos);
  BOOST_TEST(error_of([] {
               run_expert_conv("reference", false, 3, 2, 4, {0, -1, 1});
             }).find("sample 1 is routed to expert -1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(moe_residual_block_gradient_check_with_fixed_routes) {
  // x -> expert_conv -> gate -> BN -> relu -> expert_conv -> gate -> BN, + x, relu: one MoE
  // BasicBlock (train-mode BN), f64, every parameter and the input against central differences.
  Graph g(DType::F64);
  Val x{&g, g.input("x", {4, 5, 5, 3})};
  Val logits{&g, g.buffer("logits", {4, 2})};
  Route r = top1(logits);
  auto bn = [&](Val v, const std::string& n) {
    int64_t c = v.shape()[3];
    return batch_norm(v, Val{&g, g.param(n + ".weight", {c})}, Val{&g, g.param(n + ".bias", {c})},
                      Val{&g, g.buffer(n + ".running_mean", {c})},
                      Val{&g, g.buffer(n + ".running_var", {c})});
  };
  Val w1{&g, g.param("conv1.weight", {2 * 3, 3, 3, 3})},
      w2{&g, g.param("conv2.weight", {2 * 3, 3, 3, 3})};
  Val h = relu(bn(channel_gate(expert_conv(x, w1, r.index, 2, 1, 1), r.gate), "bn1"));
  h = bn(channel_gate(expert_conv(h, w2, r.index, 2, 1, 1), r.gate), "bn2");
  Val out = relu(h + x);
  Val loss = sum(out * Val{&g, g.input("projection", out.shape())});
  g.mark_loss(loss.id, "loss");
  std::vector<ValueId> targets = g.params();
  targets.push_back(x.id);
  autodiff(g, loss.id, targets);
  auto backend = make_backend("reference");
  Variables v(*backend);
  auto full = compile(g, v);
  auto forward = compile(g, v, {Mode::Train, {loss.id}});
  for (const std::string& name : v.names()) {
    bool variance = name.find("running_var") != std::string::npos;
    if (name.rfind("grad/", 0) == 0 || name == "loss") continue;
    v.set(name, random_tensor(v.get(name).shape(), DType::F64, stable_hash(name),
                              variance ? 0.5 : -1, variance ? 1.5 : 1));
  }
  full->run();
  for (ValueId t : targets) {
    const std::string& name = g.value(t).name;
    Tensor p = v.get(name), analytic = v.get(grad_name(name)).clone(), numeric = analytic.clone();
    for (int64_t i = 0; i < p.numel(); ++i) {
      double keep = p.data<double>()[i];
      p.data<double>()[i] = keep + 1e-6;
      forward->run();
      double plus = v.get("loss").item(0);
      p.data<double>()[i] = keep - 1e-6;
      forward->run();
      double minus = v.get("loss").item(0);
      p.data<double>()[i] = keep;
      numeric.data<double>()[i] = (plus - minus) / 2e-6;
    }
    BOOST_TEST(l2_relative_error(analytic, numeric) <= 1e-6, name);
  }
}

BOOST_AUTO_TEST_SUITE_END()
