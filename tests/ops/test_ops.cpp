// Runs every entry of the op table (op_cases.cpp) in two modes of checking:
//  - gradcheck: f64 on the reference kernels, analytic gradients of L = sum(y * R) for random R
//    against central differences, relative error <= 1e-6, for every float input and parameter;
//  - parity: f32 oneDNN/OpenMP kernels against the reference kernels, relative error <= 1e-5, for
//    the output, every gradient and the BN running statistics;
// each in train and eval mode where the op differs.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <iostream>

#include "../helpers.h"
#include "backends/backends.h"
#include "backends/cpu/onednn_backend.h"
#include "backends/kernel_registry.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "ops/attack.h"
#include "ops/basic.h"
#include "ops/batch_norm.h"
#include "ops/losses.h"
#include "ops/op_cases.h"
#include "ops/op_harness.h"
#include "ops/op_registry.h"
#include "ops/optimizer.h"

using namespace advmoe;
using namespace advmoe::testing;

BOOST_AUTO_TEST_SUITE(ops)

BOOST_AUTO_TEST_CASE(every_op_has_reference_and_onednn_kernels) {
  KernelRegistry& r = KernelRegistry::instance();
  for (int i = 0; i < static_cast<int>(Op::kCount); ++i) {
    Op op = static_cast<Op>(i);
    BOOST_TEST(r.has("reference", op), op_def(op).name << " lacks a reference kernel");
    BOOST_TEST(r.has("onednn", op), op_def(op).name << " lacks a onednn kernel");
  }
}

BOOST_AUTO_TEST_CASE(a_second_kernel_for_one_op_is_an_error) {
  KernelFactory factory = [](const KernelArgs&) -> std::unique_ptr<Kernel> { return nullptr; };
  KernelTable table;
  put(table, Op::Fill, factory);
  BOOST_CHECK_THROW(put(table, Op::Fill, factory), Error);
  BOOST_CHECK_THROW(KernelRegistry::instance().add("reference", Op::Fill, factory), Error);
}

BOOST_AUTO_TEST_CASE(no_node_of_a_plan_reads_a_value_after_an_in_place_update) {
  Graph g;
  Val w{&g, g.param("w", {2})};
  Val token = sgd_update(w, Val{&g, g.input("grad", {2})}, Val{&g, g.state("m", {2})},
                         Val{&g, g.input("lr", {})}, SgdAttrs{}, "sgd");
  g.mark_output(token.id, "token");
  Val after = scale(w, 2.0);  // appended after the update: it would read the updated weight
  g.mark_output(after.id, "after");
  auto backend = make_backend("reference");
  Variables vars(*backend);
  std::string message;
  try {
    compile(g, vars, {Mode::Train, {token.id, after.id}});
  } catch (const Error& e) {
    message = e.what();
  }
  BOOST_TEST(message.find("reads 'w' after another node of the Plan updated it in place") !=
                 std::string::npos,
             message);
  BOOST_CHECK_NO_THROW(compile(g, vars, {Mode::Train, {token.id}}));
  // In-place state must be persistent.
  BOOST_CHECK_THROW(sgd_update(scale(w, 1.0), Val{&g, g.input("grad2", {2})},
                               Val{&g, g.state("m2", {2})}, Val{&g, g.find("lr")}, SgdAttrs{}),
                    Error);
}

BOOST_DATA_TEST_CASE(gradient_matches_finite_differences,
                     boost::unit_test::data::make(gradcheck_names()), name) {
  const OpCase& c = find_case(name);
  for (Mode mode : c.modes) {
    Built b = build(c, DType::F64);
    auto backend = make_backend("reference");
    Variables vars(*backend);
    auto full = compile(*b.graph, vars, {mode, {}});
    auto forward = compile(*b.graph, vars, {mode, {b.loss}});
    fill_inputs(*b.graph, vars);
    full->run();
    const double h = 1e-6;
    for (ValueId t : b.targets) {
      const std::string& target = b.graph->value(t).name;
      Tensor analytic = vars.get(grad_name(target)).clone();
      Tensor x = vars.get(target);
      Tensor numeric = Tensor::zeros(x.shape(), DType::F64);
      double* xp = x.data<double>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        double keep = xp[i];
        xp[i] = keep + h;
        forward->run();
        double plus = vars.get("loss").item(0);
        xp[i] = keep - h;
        forward->run();
        double minus = vars.get("loss").item(0);
        xp[i] = keep;
        numeric.data<double>()[i] = (plus - minus) / (2 * h);
      }
      double err = l2_relative_error(analytic, numeric);
      BOOST_TEST(err <= 1e-6, name << " [" << mode_name(mode) << "] d/d" << target
                                   << ": relative error " << err);
    }
  }
}

BOOST_DATA_TEST_CASE(onednn_matches_reference, boost::unit_test::data::make(all_names()), name) {
  const OpCase& c = find_case(name);
  for (Mode mode : c.modes) {
    auto reference = run_case(c, "reference", mode);
    auto onednn = run_case(c, "onednn", mode);
    BOOST_TEST(reference.size() >= 3u);
    for (const auto& [value, expected] : reference) {
      double err = max_relative_error(onednn.at(value), expected);
      BOOST_TEST(err <= 1e-5, name << " [" << mode_name(mode) << "] " << value
                                   << ": onednn vs reference relative error " << err);
    }
  }
}

// Mixed precision: the cases whose ops round their inputs to bf16 (convolutions, expert convs,
// linear layers) against the exact reference, at bf16's tolerance (8 significant bits: inputs
// rounded with relative error <= 2^-9, f32 accumulation). The error must also be visibly larger
// than f32's, or the bf16 kernels did not run.
std::vector<std::string> bf16_case_names() {
  std::vector<std::string> names;
  for (const std::string& n : all_names())
    if (n.rfind("conv2d", 0) == 0 || n.rfind("linear", 0) == 0 || n.rfind("moe", 0) == 0 ||
        n.rfind("expert", 0) == 0 || n == "topk_mask_linear" ||
        n.find("_conv") != std::string::npos)
      names.push_back(n);
  return names;
}

BOOST_AUTO_TEST_CASE(bf16_cases_cover_every_rounding_kernel) {
  // conv2d and linear in both variants, expert_conv sparse and dense.
  BOOST_TEST(bf16_case_names().size() >= 10u);
}

BOOST_DATA_TEST_CASE(onednn_bf16_matches_reference, boost::unit_test::data::make(bf16_case_names()),
                     name) {
  if (!cpu_has_bf16()) {
    BOOST_TEST_MESSAGE("skipped: this CPU has no AVX-512 BF16");
    return;
  }
  const OpCase& c = find_case(name);
  BackendOptions bf16;
  bf16.precision = Precision::BF16;
  for (Mode mode : c.modes) {
    auto reference = run_case(c, "reference", mode);
    auto mixed = run_case(c, "onednn", mode, bf16);
    double largest = 0;
    for (const auto& [value, expected] : reference) {
      // The harness's loss sum(y * R) cancels: its error is judged through y and the gradients.
      if (value == "loss") continue;
      double err = l2_relative_error(mixed.at(value), expected);
      largest = std::max(largest, err);
      BOOST_TEST(err <= 6e-3, name << " [" << mode_name(mode) << "] " << value
                                   << ": onednn bf16 vs reference relative L2 error " << err);
    }
    BOOST_TEST_MESSAGE(name << ": largest bf16 relative L2 error " << largest);
    BOOST_TEST(largest > 5e-4, name << ": bf16 no less exact than f32 (" << largest
                                    << "); did the bf16 kernels run?");
  }
}

BOOST_AUTO_TEST_CASE(bf16_refused_where_not_implemented) {
  BackendOptions bf16;
  bf16.precision = Precision::BF16;
  BOOST_CHECK_EXCEPTION(make_backend("reference", bf16), Error, [](const Error& e) {
    return std::string(e.what()).find("bf16") != std::string::npos;
  });
  BOOST_CHECK_EXCEPTION(parse_precision("fp16"), Error, [](const Error& e) {
    return std::string(e.what()).find("fp32 or bf16") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(batch_norm_running_stats_follow_pytorch) {
  // x rows {1, 3} and {2, 6} per channel -> batch mean {2, 4.5}... checked against PyTorch's
  // rule: running = 0.9 * running + 0.1 * stat, variance unbiased (n - 1).
  for (const char* backend_name : {"reference", "onednn"}) {
    Graph g(DType::F32);
    Val x{&g, g.input("x", {4, 1})};
    Val y = batch_norm(x, Val{&g, g.param("gamma", {1})}, Val{&g, g.param("beta", {1})},
                       Val{&g, g.buffer("rm", {1})}, Val{&g, g.buffer("rv", {1})});
    g.mark_output(y.id, "y");
    auto backend = make_backend(backend_name);
    Variables vars(*backend);
    auto plan = compile(g, vars, {Mode::Train, {}});
    float xs[4] = {1, 2, 3, 6};  // mean 3, biased var 3.5, unbiased 14/3
    std::copy(xs, xs + 4, vars.get("x").data<float>());
    vars.get("gamma").fill(1);
    vars.get("rm").fill(0.5);
    vars.get("rv").fill(2.0);
    plan->run();
    BOOST_TEST(vars.get("rm").item(0) == 0.9 * 0.5 + 0.1 * 3, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(vars.get("rv").item(0) == 0.9 * 2.0 + 0.1 * 14.0 / 3.0,
               boost::test_tools::tolerance(1e-6));
    // y uses the biased variance: (6 - 3) / sqrt(3.5 + 1e-5).
    BOOST_TEST(vars.get("y").item(3) == 3.0 / std::sqrt(3.5 + 1e-5),
               boost::test_tools::tolerance(1e-5));
  }
}

BOOST_AUTO_TEST_CASE(cross_entropy_rejects_bad_labels) {
  Graph g(DType::F32);
  Val loss = softmax_cross_entropy(Val{&g, g.input("z", {2, 3})},
                                   Val{&g, g.input("y", {2}, DType::I32)}, "ce");
  g.mark_loss(loss.id, "loss");
  auto backend = make_backend("onednn");
  Variables vars(*backend);
  auto plan = compile(g, vars);
  vars.get("y").data<int32_t>()[1] = 3;
  // Appending nodes after compiling (as a program adding an attack does) moves the node vector;
  // the compiled plan must not depend on it.
  for (int i = 0; i < 100; ++i) relu(Val{&g, g.input("later" + std::to_string(i), {2})});
  try {
    plan->run();
    BOOST_FAIL("a label of 3 with 3 classes was accepted");
  } catch (const Error& e) {
    std::string m = e.what();
    BOOST_TEST(m.find("'ce'") != std::string::npos);
    BOOST_TEST(m.find("sample 1") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(pgd_step_moves_clips_and_projects) {
  for (const char* backend_name : {"reference", "onednn"}) {
    for (bool l2 : {false, true}) {
      Graph g(DType::F32);
      auto in = [&](const char* name) { return Val{&g, g.input(name, {2, 3})}; };
      Val next = pgd_step(in("x"), in("x0"), in("g"), 0.1, l2 ? 0.05 : 0.03, l2, "step");
      g.mark_output(next.id, "next");
      auto backend = make_backend(backend_name);
      Variables vars(*backend);
      auto plan = compile(g, vars, {Mode::Eval, {}});
      // Sample 0: inside the ball, gradient signs +, -, 0. Sample 1: at x0 + eps already (the
      // ball's clip binds) and next to 1 (the box's clip binds).
      const float x[6] = {0.5f, 0.5f, 0.5f, 0.68f, 0.99f, 0.2f};
      const float x0[6] = {0.5f, 0.5f, 0.5f, 0.6f, 0.99f, 0.2f};
      const float grad[6] = {3, -4, 0, 1, 1, 0};
      std::copy(x, x + 6, vars.get("x").data<float>());
      std::copy(x0, x0 + 6, vars.get("x0").data<float>());
      std::copy(grad, grad + 6, vars.get("g").data<float>());
      plan->run();
      const Tensor& out = vars.get("next");
      auto near = boost::test_tools::tolerance(1e-6);
      if (!l2) {
        const double expected[6] = {0.53, 0.47, 0.5, 0.7, 1.0, 0.2};
        for (int i = 0; i < 6; ++i) BOOST_TEST(out.item(i) == expected[i], near);
      } else {
        // Sample 0: 0.05 along g / |g| = (0.6, -0.8, 0), inside the 0.1 ball.
        const double expected0[3] = {0.53, 0.46, 0.5};
        for (int i = 0; i < 3; ++i) BOOST_TEST(out.item(i) == expected0[i], near);
        // Sample 1: x + 0.05 (1, 1, 0) / sqrt(2) - x0 has norm > 0.1: projected onto the sphere,
        // then the box clips the second pixel at 1.
        double d0 = 0.08 + 0.05 / std::sqrt(2.0), d1 = 0.05 / std::sqrt(2.0);
        double shrink = 0.1 / std::sqrt(d0 * d0 + d1 * d1);
        BOOST_TEST(out.item(3) == 0.6 + shrink * d0, near);
        BOOST_TEST(0.99 + shrink * d1 > 1.0);
        BOOST_TEST(out.item(4) == 1.0, near);
        BOOST_TEST(out.item(5) == 0.2, near);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(pgd_start_stays_in_the_ball_and_follows_its_key) {
  for (const char* backend_name : {"reference", "onednn"}) {
    for (int variant = 0; variant < 3; ++variant) {  // L-inf, L2, TRADES
      Graph g(DType::F32);
      PgdStartAttrs a;
      a.kind = variant == 2 ? PgdStartAttrs::Trades : PgdStartAttrs::Uniform;
      a.epsilon = 0.1;
      a.l2 = variant == 1;
      a.seed = 3;
      Val start = pgd_start(Val{&g, g.input("x0", {4, 8, 8, 1})},
                            Val{&g, g.input("key", {2}, DType::I32)}, a, "start");
      g.mark_output(start.id, "x");
      auto backend = make_backend(backend_name);
      Variables vars(*backend);
      auto plan = compile(g, vars, {Mode::Eval, {}});
      vars.get("x0").fill(0.5);
      auto run_with_key = [&](int32_t key) {
        vars.get("key").data<int32_t>()[0] = key;
        plan->run();
        return vars.get("x").clone();
      };
      Tensor first = run_with_key(7), again = run_with_key(7), other = run_with_key(8);
      BOOST_TEST(same_bytes(first, again));
      BOOST_TEST(!same_bytes(first, other));
      for (int s = 0; s < 4; ++s) {
        double l2 = 0, linf = 0;
        for (int i = s * 64; i < (s + 1) * 64; ++i) {
          double d = first.item(i) - 0.5;
          l2 += d * d;
          linf = std::max(linf, std::abs(d));
        }
        if (variant == 0) BOOST_TEST((linf <= 0.1 + 1e-6 && linf > 0.05));
        if (variant == 1) BOOST_TEST((std::sqrt(l2) <= 0.1 + 1e-6 && linf > 0));
        if (variant == 2) BOOST_TEST((linf < 0.01 && linf > 0));  // 0.001 N(0, 1)
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
