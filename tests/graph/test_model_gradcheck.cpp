// The whole SmallCNN (conv, BN, ReLU, max-pool, GAP, linear, cross-entropy wired together) in f64
// on the reference kernels: autodiff's gradients of every parameter and of the input against
// central differences, in train mode (batch statistics) and eval mode (running statistics).
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "models/registry.h"
#include "ops/losses.h"

using namespace advmoe;
using namespace advmoe::testing;

BOOST_AUTO_TEST_SUITE(model_gradcheck)

BOOST_AUTO_TEST_CASE(small_cnn_gradients_match_finite_differences) {
  for (Mode mode : {Mode::Train, Mode::Eval}) {
    ModelConfig mc;
    mc.batch = 3;
    // 16x16 keeps every conv at least 2x2, so no gradient is identically zero (at 1x1 a 3x3
    // kernel's outer taps only see padding, and a later train-mode BN cancels bias shifts).
    mc.image = Shape{16, 16, 1};
    mc.width = 0.125;  // widths 4-8-16-32
    mc.dtype = DType::F64;
    Model model = build_model(mc);
    Graph& g = *model.graph;
    Val loss = softmax_cross_entropy(model.logits, model.labels);
    g.mark_loss(loss.id, "loss");
    std::vector<ValueId> targets = g.params();
    targets.push_back(model.images.id);
    autodiff(g, loss.id, targets);

    auto backend = make_backend("reference");
    Variables vars(*backend);
    initialize_parameters(model, vars, 3);
    auto full = compile(g, vars, {mode, {}});
    auto forward = compile(g, vars, {mode, {loss.id}});
    vars.set("images", random_tensor({3, 16, 16, 1}, DType::F64, 5, 0, 1));
    for (int i = 0; i < 3; ++i) vars.get("labels").data<int32_t>()[i] = 2 * i + 1;
    // Non-trivial running stats so eval mode differs from train mode.
    for (const std::string& name : vars.names())
      if (name.find("running_var") != std::string::npos)
        vars.set(name, random_tensor(vars.get(name).shape(), DType::F64, 6, 0.5, 1.5));
    full->run();

    // h = 1e-5: input gradients here are ~1e-4, where h = 1e-6 lets rounding noise of the
    // loss (~1e-16 / h) reach 1e-6 relative; the truncation error h^2 stays far below.
    const double h = 1e-5;
    for (ValueId t : targets) {
      const std::string& name = g.value(t).name;
      Tensor x = vars.get(name);
      Tensor analytic = vars.get(grad_name(name)).clone();
      // 12 coordinates per tensor (fewer for small ones), at a stride co-prime with the shapes.
      int64_t count = std::min<int64_t>(12, x.numel());
      Tensor a = Tensor::zeros({count}, DType::F64), n = a.clone();
      for (int64_t k = 0; k < count; ++k) {
        int64_t i = (k * 7919 + 13) % x.numel();
        double keep = x.data<double>()[i];
        x.data<double>()[i] = keep + h;
        forward->run();
        double plus = vars.get("loss").item(0);
        x.data<double>()[i] = keep - h;
        forward->run();
        double minus = vars.get("loss").item(0);
        x.data<double>()[i] = keep;
        n.data<double>()[k] = (plus - minus) / (2 * h);
        a.data<double>()[k] = analytic.item(i);
      }
      double err = l2_relative_error(a, n);
      BOOST_TEST(err <= 1e-6, (mode == Mode::Train ? "train" : "eval")
                                  << " d loss / d " << name << ": relative error " << err);
    }
  }
}

// An f64 MoE SmallCNN with its cross-entropy "loss" and two input gradients: "grad_exact/images"
// (routes held fixed) and "grad_ste/images" (straight-through surrogate).
Model moe_with_both_input_gradients(const std::string& routing, ValueId& loss_id) {
  ModelConfig mc;
  mc.batch = 3;
  mc.image = Shape{16, 16, 1};
  mc.dtype = DType::F64;
  mc.variant = "moe";
  mc.ratio = 0.5;
  mc.experts = 2;
  mc.routing = routing;
  Model model = build_model(mc);
  Graph& g = *model.graph;
  Val loss = softmax_cross_entropy(model.logits, model.labels);
  g.mark_loss(loss.id, "loss");
  AutodiffOptions exact;
  exact.straight_through_routes = false;
  exact.prefix = "grad_exact/";
  AutodiffOptions ste;
  ste.prefix = "grad_ste/";
  autodiff(g, loss.id, {model.images.id}, exact);
  autodiff(g, loss.id, {model.images.id}, ste);
  loss_id = loss.id;
  return model;
}

// Global routing: the router network reads the image, so the straight-through surrogate adds
// a term to d loss / d images that the model (piecewise constant in its routes) does not have.
// With routes held fixed, autodiff's input gradient is the true one: it matches central
// differences (h is far too small to flip a route); the surrogate's does not.
BOOST_AUTO_TEST_CASE(global_routing_input_gradient_holds_routes_fixed) {
  ValueId loss_id = kNoValue;
  Model model = moe_with_both_input_gradients("global", loss_id);
  Graph& g = *model.graph;

  auto backend = make_backend("reference");
  Variables vars(*backend);
  initialize_parameters(model, vars, 3);
  auto full = compile(g, vars, {Mode::Eval, {}});
  auto forward = compile(g, vars, {Mode::Eval, {loss_id}});
  vars.set("images", random_tensor({3, 16, 16, 1}, DType::F64, 5, 0, 1));
  for (int i = 0; i < 3; ++i) vars.get("labels").data<int32_t>()[i] = 2 * i + 1;
  full->run();
  Tensor x = vars.get("images");
  const int64_t count = 24;
  Tensor numeric = Tensor::zeros({count}, DType::F64), a_exact = numeric.clone(),
         a_ste = numeric.clone();
  const double h = 1e-5;
  for (int64_t k = 0; k < count; ++k) {
    int64_t i = (k * 7919 + 13) % x.numel();
    double keep = x.data<double>()[i];
    x.data<double>()[i] = keep + h;
    forward->run();
    double plus = vars.get("loss").item(0);
    x.data<double>()[i] = keep - h;
    forward->run();
    double minus = vars.get("loss").item(0);
    x.data<double>()[i] = keep;
    numeric.data<double>()[k] = (plus - minus) / (2 * h);
    a_exact.data<double>()[k] = vars.get("grad_exact/images").item(i);
    a_ste.data<double>()[k] = vars.get("grad_ste/images").item(i);
  }
  double exact_error = l2_relative_error(a_exact, numeric);
  double ste_error = l2_relative_error(a_ste, numeric);
  BOOST_TEST(exact_error <= 1e-6, "routes held fixed: relative error " << exact_error);
  BOOST_TEST(ste_error > 1e-3,
             "straight-through: relative error " << ste_error << " (the surrogate term vanished?)");
  // The surrogate reaches into the router network (its backward nodes exist in the graph).
  int exact_router_backward = 0;
  for (const Node& n : g.nodes())
    if (n.name.rfind("router.", 0) == 0 && n.name.find("/backward") != std::string::npos)
      ++exact_router_backward;
  BOOST_TEST(exact_router_backward > 0);  // the STE gradient has them
}

// Per-layer routers read detached features, so holding routes fixed changes nothing there: the
// two input gradients agree to the bit (docs/results.md relies on this for the per-layer rows).
BOOST_AUTO_TEST_CASE(layer_routing_input_gradient_is_the_same_either_way) {
  ValueId loss_id = kNoValue;
  Model model = moe_with_both_input_gradients("layer", loss_id);
  Graph& g = *model.graph;
  auto backend = make_backend("reference");
  Variables vars(*backend);
  initialize_parameters(model, vars, 4);
  auto full = compile(g, vars, {Mode::Eval, {}});
  vars.set("images", random_tensor({3, 16, 16, 1}, DType::F64, 7, 0, 1));
  for (int i = 0; i < 3; ++i) vars.get("labels").data<int32_t>()[i] = i;
  full->run();
  BOOST_TEST(same_bytes(vars.get("grad_exact/images"), vars.get("grad_ste/images")));
  double norm = 0;
  for (int64_t i = 0; i < vars.get("grad_exact/images").numel(); ++i)
    norm += std::fabs(vars.get("grad_exact/images").item(i));
  BOOST_TEST(norm > 0);
}

BOOST_AUTO_TEST_SUITE_END()
