// The PGD loop.
#include "training/pgd.h"

#include <algorithm>
#include <cmath>

#include "graph/autodiff.h"
#include "ops/losses.h"
#include "runtime/rng.h"

namespace advmoe {

PgdAttack::PgdAttack(Model& model, Variables& variables, PgdConfig config)
    : config_(config), variables_(variables) {
  ADVMOE_CHECK(config.epsilon >= 0 && config.step_size > 0 && config.steps >= 1,
               "PGD needs epsilon >= 0, step size > 0 and at least one step; got epsilon "
                   << config.epsilon << ", step " << config.step_size << ", " << config.steps
                   << " steps");
  Graph& g = *model.graph;
  // The attack's part of the graph is built once per model; later attacks reuse it.
  if (!g.has("attack.loss")) {
    Val loss = softmax_cross_entropy(model.logits, model.labels, "attack.cross_entropy");
    g.mark_loss(loss.id, "attack.loss");
    autodiff(g, loss.id, {model.images.id});
  }
  // Eval mode: BN uses running statistics, as attacks on a trained model do.
  plan_ = compile(g, variables, {Mode::Eval, {g.find("attack.loss"), g.find(grad_name("images"))}});
  host_grad_ = Tensor::zeros(model.images.shape(), DType::F32);
  host_loss_ = Tensor::zeros(Shape{}, DType::F32);
}

void PgdAttack::run(const Tensor& images, const Tensor& labels, const Tensor& adversarial,
                    uint64_t batch_index) {
  Backend& backend = variables_.backend();
  const Tensor& x_var = variables_.get("images");
  const int64_t n = images.numel();
  const float eps = static_cast<float>(config_.epsilon),
              alpha = static_cast<float>(config_.step_size);
  const float* x0 = images.data<float>();
  float* x = adversarial.data<float>();
  RandomStream start(config_.seed, 0xA77AC000ull + batch_index);
  for (int64_t i = 0; i < n; ++i) {
    float noise =
        config_.random_start ? eps * (2 * start.uniform(static_cast<uint64_t>(i)) - 1) : 0.f;
    x[i] = std::clamp(x0[i] + noise, 0.f, 1.f);
  }
  backend.copy(variables_.get("labels"), labels);
  const float* g = host_grad_.data<float>();
  for (int step = 0; step < config_.steps; ++step) {
    backend.copy(x_var, adversarial);
    plan_->run();
    backend.copy(host_grad_, variables_.get(grad_name("images")));
    backend.copy(host_loss_, variables_.get("attack.loss"));
    last_loss_ = host_loss_.item(0);
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) {
      float sign = g[i] > 0 ? 1.f : (g[i] < 0 ? -1.f : 0.f);
      x[i] = std::clamp(std::clamp(x[i] + alpha * sign, x0[i] - eps, x0[i] + eps), 0.f, 1.f);
    }
  }
}

}  // namespace advmoe
