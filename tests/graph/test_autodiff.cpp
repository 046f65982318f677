// autodiff: fan-out accumulation, shared parameters, gradients for the input only and for one
// parameter group only (with the pruned kernels asserted absent and never run).
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "models/registry.h"
#include "ops/basic.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include "ops/losses.h"
#include "ops/pooling.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

bool has_op(const Plan& p, Op op) {
  return std::find(p.kernel_ops().begin(), p.kernel_ops().end(), op) != p.kernel_ops().end();
}

int count_nodes(const Graph& g, Op op) {
  return static_cast<int>(
      std::count_if(g.nodes().begin(), g.nodes().end(), [&](const Node& n) { return n.op == op; }));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(autodiff_suite)

BOOST_AUTO_TEST_CASE(fan_out_is_accumulated_explicitly) {
  // L = sum(x * x + relu(x) + 3x): x is used four times; dL/dx = 2x + [x > 0] + 3.
  Graph g(DType::F64);
  Val x{&g, g.input("x", {7})};
  Val loss = sum(x * x + relu(x) + scale(x, 3.0));
  g.mark_loss(loss.id, "loss");
  int add_n_before = count_nodes(g, Op::AddN);
  autodiff(g, loss.id, {x.id});
  BOOST_TEST(count_nodes(g, Op::AddN) == add_n_before + 1);
  auto backend = make_backend("reference");
  Variables vars(*backend);
  auto plan = compile(g, vars);
  vars.set("x", random_tensor({7}, DType::F64, 3));
  plan->run();
  const Tensor& xs = vars.get("x");
  const Tensor& dx = vars.get("grad/x");
  for (int64_t i = 0; i < 7; ++i)
    BOOST_TEST(dx.item(i) == 2 * xs.item(i) + (xs.item(i) > 0 ? 1 : 0) + 3,
               boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(shared_parameter_used_twice_gets_the_sum_of_both_uses) {
  // TRADES evaluates the same weights on clean and adversarial inputs: the weight gradient of
  // L = f(x1; w) + f(x2; w) must equal the sum of the gradients of the two terms alone.
  auto build = [](bool first, bool second, Graph& g) {
    Val w{&g, g.param("w", {4, 3, 3, 2})};
    Val x1{&g, g.input("x1", {2, 5, 5, 2})}, x2{&g, g.input("x2", {2, 5, 5, 2})};
    std::vector<Val> terms;
    if (first) terms.push_back(sum(relu(conv2d(x1, w, 1, 1))));
    if (second) terms.push_back(scale(sum(relu(conv2d(x2, w, 1, 1))), 0.5));
    Val loss = add_n(terms);
    g.mark_loss(loss.id, "loss");
    autodiff(g, loss.id, {w.id});
  };
  Tensor grads[3];
  for (int k = 0; k < 3; ++k) {
    Graph g(DType::F64);
    build(k != 2, k != 1, g);
    auto backend = make_backend("reference");
    Variables vars(*backend);
    auto plan = compile(g, vars);
    vars.set("w", random_tensor({4, 3, 3, 2}, DType::F64, 1));
    vars.set("x1", random_tensor({2, 5, 5, 2}, DType::F64, 2));
    vars.set("x2", random_tensor({2, 5, 5, 2}, DType::F64, 3));
    plan->run();
    grads[k] = vars.get("grad/w").clone();
    if (k == 0) BOOST_TEST(plan->run_count(Op::Conv2dBackwardWeights) == 2);
  }
  Tensor expected = grads[1].clone();
  for (int64_t i = 0; i < expected.numel(); ++i)
    expected.data<double>()[i] += grads[2].data<double>()[i];
  BOOST_TEST(max_relative_error(grads[0], expected) < 1e-12);
}

BOOST_AUTO_TEST_CASE(input_gradient_runs_no_weight_gradient_kernel) {
  ModelConfig mc;
  mc.batch = 8;
  Model model = build_model(mc);
  Graph& g = *model.graph;
  Val loss = softmax_cross_entropy(model.logits, model.labels);
  g.mark_loss(loss.id, "loss");
  Gradients grads = autodiff(g, loss.id, {model.images.id});
  BOOST_TEST(count_nodes(g, Op::Conv2dBackwardWeights) == 0);
  BOOST_TEST(count_nodes(g, Op::BatchNormBackwardParams) == 0);
  BOOST_TEST(count_nodes(g, Op::LinearBackwardWeights) == 0);
  BOOST_TEST(count_nodes(g, Op::ChannelSum) == 0);

  auto backend = make_backend("onednn");
  Variables vars(*backend);
  initialize_parameters(model, vars, 5);
  auto plan = compile(g, vars, {Mode::Eval, {loss.id, grads[model.images.id]}});
  vars.set("images", random_tensor(vars.get("images").shape(), DType::F32, 4, 0, 1));
  plan->run();
  plan->run();
  BOOST_TEST(!has_op(*plan, Op::Conv2dBackwardWeights));
  BOOST_TEST(plan->run_count(Op::Conv2dBackwardWeights) == 0);
  BOOST_TEST(plan->run_count(Op::Conv2dBackwardData) == 2 * 4);  // four convs, two runs
  double norm = 0;
  const Tensor& dx = vars.get("grad/images");
  for (int64_t i = 0; i < dx.numel(); ++i) norm += dx.item(i) * dx.item(i);
  BOOST_TEST(norm > 0);
}

BOOST_AUTO_TEST_CASE(one_parameter_group_only) {
  // x -> conv(w_backbone) -> relu -> gap -> linear(w_router) -> CE; differentiate the "router"
  // group only: the conv needs neither its weight gradient nor dx (x is not a target).
  Graph g(DType::F32);
  Val x{&g, g.input("x", {4, 6, 6, 2})};
  Val labels{&g, g.input("labels", {4}, DType::I32)};
  Val wb{&g, g.param("conv.weight", {8, 3, 3, 2}, "backbone")};
  Val wr{&g, g.param("head.weight", {3, 8}, "router")};
  Val loss = softmax_cross_entropy(linear(global_avg_pool(relu(conv2d(x, wb, 1, 1))), wr), labels);
  g.mark_loss(loss.id, "loss");
  std::vector<ValueId> router = g.params("router");
  BOOST_TEST(router.size() == 1u);
  autodiff(g, loss.id, router);
  BOOST_TEST(count_nodes(g, Op::LinearBackwardWeights) == 1);
  BOOST_TEST(count_nodes(g, Op::Conv2dBackwardWeights) == 0);
  BOOST_TEST(count_nodes(g, Op::Conv2dBackwardData) == 0);
  BOOST_TEST(count_nodes(g, Op::ReluBackward) == 0);
  BOOST_TEST(g.has("grad/head.weight"));
  BOOST_TEST(!g.has("grad/conv.weight"));
}

BOOST_AUTO_TEST_CASE(target_the_loss_ignores_gets_zero_gradient) {
  Graph g(DType::F64);
  Val x{&g, g.input("x", {3})}, unused{&g, g.param("unused", {2})};
  Val loss = sum(x);
  g.mark_loss(loss.id, "loss");
  autodiff(g, loss.id, {x.id, unused.id});
  auto backend = make_backend("reference");
  Variables vars(*backend);
  auto plan = compile(g, vars);
  vars.get("grad/unused").fill(5);
  plan->run();
  BOOST_TEST(vars.get("grad/unused").item(1) == 0.0);
  BOOST_TEST(vars.get("grad/x").item(2) == 1.0);
}

BOOST_AUTO_TEST_SUITE_END()
