// Shared by the eval-mode fusion tests (tests/graph/test_eval_fusion.cpp) and their GPU twin
// (tests/cuda/test_cuda_programs.cpp): a small model with an attack's Plan (logits, loss, input
// gradient), batch norms far from the identity, and the fused-vs-unfused comparison.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "models/registry.h"
#include "ops/losses.h"

namespace advmoe::testing {

inline ModelConfig small_model(const std::string& arch, const std::string& variant, DType dtype) {
  ModelConfig mc;
  mc.arch = arch;
  mc.variant = variant;
  mc.batch = 3;
  mc.image = Shape{16, 16, 3};
  mc.width = 0.125;
  mc.ratio = 0.5;
  mc.dtype = dtype;
  return mc;
}

// A model with its loss and the gradients an attack takes (w.r.t. the images; with
// `weight_gradients`, w.r.t. every parameter too), over one set of Variables.
struct FusionFixture {
  Model model;
  ValueId loss = kNoValue;
  std::vector<ValueId> targets;
  std::shared_ptr<Backend> backend;
  std::unique_ptr<Variables> vars;

  FusionFixture(const ModelConfig& mc, const std::string& backend_name, BackendOptions options = {},
                bool weight_gradients = false)
      : model(build_model(mc)) {
    Graph& g = *model.graph;
    Val l = softmax_cross_entropy(model.logits, model.labels);
    g.mark_loss(l.id, "loss");
    loss = l.id;
    std::vector<ValueId> wrt{model.images.id};
    if (weight_gradients)
      for (ValueId p : g.params()) wrt.push_back(p);
    autodiff(g, loss, wrt);
    targets = {loss, model.logits.id};
    for (ValueId v : wrt) targets.push_back(g.find(grad_name(g.value(v).name)));

    backend = make_backend(backend_name, options);
    vars = std::make_unique<Variables>(*backend);
    initialize_parameters(model, *vars, 7);
    // Batch norms far from the identity, so a wrong fold shows: gamma, beta and running stats.
    DType dt = mc.dtype;
    uint64_t seed = 100;
    for (const std::string& name : vars->names()) {
      if (!ends_with(name, ".running_var")) continue;
      std::string module = name.substr(0, name.size() - std::string(".running_var").size());
      const Shape& c = vars->get(name).shape();
      vars->set(name, random_tensor(c, dt, seed++, 0.5, 1.5));
      vars->set(module + ".running_mean", random_tensor(c, dt, seed++, -0.3, 0.3));
      if (vars->has(module + ".weight"))
        vars->set(module + ".weight", random_tensor(c, dt, seed++, 0.5, 1.5));
      if (vars->has(module + ".bias"))
        vars->set(module + ".bias", random_tensor(c, dt, seed++, -0.3, 0.3));
    }
    vars->set("images", random_tensor(model.images.shape(), dt, 5, 0, 1));
    Tensor labels = Tensor::zeros(model.labels.shape(), DType::I32);
    for (int64_t i = 0; i < labels.numel(); ++i) labels.data<int32_t>()[i] = (3 * i + 1) % 10;
    vars->set("labels", labels);
  }

  std::unique_ptr<Plan> plan(bool fuse) {
    CompileOptions options{Mode::Eval, targets};
    options.fuse_eval = fuse;
    return compile(*model.graph, *vars, options);
  }

  // Runs `p` and returns every target, copied to the host.
  std::vector<Tensor> run(Plan& p) {
    p.run();
    std::vector<Tensor> out;
    for (ValueId v : targets) {
      const Tensor& value = vars->get(model.graph->value(v).name);
      Tensor host = Tensor::zeros(value.shape(), value.dtype());
      backend->copy(host, value);
      out.push_back(host);
    }
    return out;
  }

  std::string target_name(size_t i) const { return model.graph->value(targets[i]).name; }
};

inline int64_t count(const Plan& p, Op op) {
  const std::vector<Op>& ops = p.kernel_ops();
  return std::count(ops.begin(), ops.end(), op);
}

// The fused Plan against the unfused one on the same Variables; returns the fused Plan.
inline std::unique_ptr<Plan> expect_parity(FusionFixture& f, double tolerance) {
  auto unfused = f.plan(false);
  auto fused = f.plan(true);
  std::vector<Tensor> expected = f.run(*unfused), actual = f.run(*fused);
  for (size_t i = 0; i < expected.size(); ++i) {
    double err = l2_relative_error(actual[i], expected[i]);
    BOOST_TEST(err <= tolerance, f.model.config.arch
                                     << "/" << f.model.config.variant << " " << f.target_name(i)
                                     << ": fused vs unfused relative error " << err);
  }
  BOOST_TEST(unfused->folded_batch_norms() == 0);
  return fused;
}

}  // namespace advmoe::testing
