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
  Graph& g = *model.graph;
  // The cross-entropy attack's part of the graph is built once per model; later attacks reuse it.
  if (!g.has("attack.loss")) {
    Val loss = softmax_cross_entropy(model.logits, model.labels, "attack.cross_entropy");
    g.mark_loss(loss.id, "attack.loss");
  }
  init(g, g.find("attack.loss"), model.images.id);
}

PgdAttack::PgdAttack(Graph& graph, Variables& variables, ValueId loss, ValueId input,
                     PgdConfig config)
    : config_(config), variables_(variables) {
  init(graph, loss, input);
}

void PgdAttack::init(Graph& g, ValueId loss, ValueId input) {
  ADVMOE_CHECK(config_.epsilon >= 0 && config_.step_size > 0 && config_.steps >= 1,
               "PGD needs epsilon >= 0, step size > 0 and at least one step; got epsilon "
                   << config_.epsilon << ", step " << config_.step_size << ", " << config_.steps
                   << " steps");
  ADVMOE_CHECK(g.value(input).role == Role::Input && is_floating(g.value(input).dtype),
               "PGD attacks a float input; '" << g.value(input).name << "' is not one");
  input_ = g.value(input).name;
  loss_ = g.value(loss).name;
  gradient_ = grad_name(input_);
  // Differentiating w.r.t. the input alone: autodiff creates no weight-gradient node.
  if (!g.has(gradient_)) autodiff(g, loss, {input});
  // Eval mode: BN uses running statistics, as attacks on a trained model do.
  plan_ = compile(g, variables_, {Mode::Eval, {loss, g.find(gradient_)}});
  host_grad_ = Tensor::zeros(g.value(input).shape, DType::F32);
  host_loss_ = Tensor::zeros(Shape{}, DType::F32);
}

void PgdAttack::run(const Tensor& images, const Tensor& labels, const Tensor& adversarial,
                    uint64_t batch_index) {
  variables_.backend().copy(variables_.get("labels"), labels);
  run(images, adversarial, batch_index);
}

void PgdAttack::run(const Tensor& images, const Tensor& adversarial, uint64_t batch_index) {
  Backend& backend = variables_.backend();
  const Tensor& x_var = variables_.get(input_);
  const int64_t n = images.numel();
  const float eps = static_cast<float>(config_.epsilon),
              alpha = static_cast<float>(config_.step_size);
  const float* x0 = images.data<float>();
  float* x = adversarial.data<float>();
  RandomStream start(config_.seed, 0xA77AC000ull + batch_index);
  for (int64_t i = 0; i < n; ++i) {
    float noise = 0;
    if (config_.trades_start)
      noise = 0.001f * static_cast<float>(start.normal(static_cast<uint64_t>(i)));
    else if (config_.random_start)
      noise = eps * (2 * start.uniform(static_cast<uint64_t>(i)) - 1);
    x[i] = std::clamp(x0[i] + noise, 0.f, 1.f);
  }
  const float* g = host_grad_.data<float>();
  for (int step = 0; step < config_.steps; ++step) {
    backend.copy(x_var, adversarial);
    plan_->run();
    backend.copy(host_grad_, variables_.get(gradient_));
    backend.copy(host_loss_, variables_.get(loss_));
    last_loss_ = host_loss_.item(0);
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) {
      float sign = g[i] > 0 ? 1.f : (g[i] < 0 ? -1.f : 0.f);
      x[i] = std::clamp(std::clamp(x[i] + alpha * sign, x0[i] - eps, x0[i] + eps), 0.f, 1.f);
    }
  }
}

}  // namespace advmoe
