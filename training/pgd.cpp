// The PGD loop: random starts, L-inf / L2 steps and projections, worst case over restarts.
#include "training/pgd.h"

#include "runtime/communicator.h"

#include <algorithm>
#include <cmath>

#include "compile/autodiff.h"
#include "ops/attack.h"
#include "ops/losses.h"
#include "training/evaluate.h"

namespace advmoe {

PgdConfig fgsm(double epsilon, uint64_t seed) {
  PgdConfig c;
  c.epsilon = epsilon;
  c.step_size = epsilon;
  c.steps = 1;
  c.start = PgdStart::None;
  c.seed = seed;
  return c;
}

PgdNorm parse_pgd_norm(const std::string& text) {
  if (text == "linf") return PgdNorm::Linf;
  if (text == "l2") return PgdNorm::L2;
  throw Error("attack norm must be linf or l2, got '" + text + "'");
}

PgdStart parse_pgd_start(const std::string& text) {
  if (text == "uniform") return PgdStart::Uniform;
  if (text == "trades") return PgdStart::Trades;
  if (text == "none") return PgdStart::None;
  throw Error("attack start must be uniform, trades or none, got '" + text + "'");
}

PgdObjective parse_pgd_objective(const std::string& text) {
  if (text == "ce") return PgdObjective::CrossEntropy;
  if (text == "kl") return PgdObjective::KlToClean;
  throw Error("attack loss must be ce or kl, got '" + text + "'");
}

RouterGradient parse_router_gradient(const std::string& text) {
  if (text == "none") return RouterGradient::None;
  if (text == "ste") return RouterGradient::StraightThrough;
  throw Error("router gradient must be none (routes held fixed) or ste, got '" + text + "'");
}

const char* router_gradient_name(RouterGradient r) {
  return r == RouterGradient::None ? "none" : "ste";
}

PgdAttack::PgdAttack(Model& model, Variables& variables, PgdConfig config)
    : config_(config), variables_(variables) {
  Graph& g = *model.graph;
  // Each objective's part of the graph is built once per model; later attacks reuse it.
  std::string name =
      config.objective == PgdObjective::CrossEntropy ? "attack.loss" : "attack.kl_loss";
  if (!g.has(name)) {
    Val loss;
    if (config.objective == PgdObjective::CrossEntropy) {
      loss = softmax_cross_entropy(model.logits, model.labels, "attack.cross_entropy");
    } else {
      // The clean output is an input of the attack: computed once per batch, a constant target.
      Val clean{&g, g.input("attack.clean_logits", model.logits.shape())};
      loss = kl_div(log_softmax(clean), log_softmax(model.logits), "attack.kl_to_clean");
    }
    g.mark_loss(loss.id, name);
  }
  if (config.objective == PgdObjective::KlToClean) clean_logits_ = "attack.clean_logits";
  init(g, g.find(name), model.images.id, model.logits.id);
}

PgdAttack::PgdAttack(Graph& graph, Variables& variables, ValueId loss, ValueId input,
                     PgdConfig config)
    : config_(config), variables_(variables) {
  ADVMOE_CHECK(config.restarts == 1,
               "PGD restarts need the model-based attack (its logits score each restart)");
  init(graph, loss, input, kNoValue);
}

void PgdAttack::init(Graph& g, ValueId loss, ValueId input, ValueId logits) {
  ADVMOE_CHECK(
      config_.epsilon >= 0 && config_.step_size > 0 && config_.steps >= 1 && config_.restarts >= 1,
      "PGD needs epsilon >= 0, step size > 0, at least one step and one restart; got "
      "epsilon "
          << config_.epsilon << ", step " << config_.step_size << ", " << config_.steps
          << " steps, " << config_.restarts << " restarts");
  ADVMOE_CHECK(g.value(input).role == Role::Input && is_floating(g.value(input).dtype),
               "PGD attacks a float input; '" << g.value(input).name << "' is not one");
  input_ = g.value(input).name;
  loss_ = g.value(loss).name;
  // Differentiating w.r.t. the input alone: autodiff creates no weight-gradient node. One
  // gradient per (loss, router gradient): attacks with another objective or surrogate get their
  // own: "grad/<loss>/<input>", or "grad_ste/<loss>/<input>" with the surrogate.
  AutodiffOptions grad_options;
  grad_options.straight_through_routes = config_.router_gradient == RouterGradient::StraightThrough;
  grad_options.prefix =
      (grad_options.straight_through_routes ? "grad_ste/" : "grad/") + loss_ + "/";
  gradient_ = grad_options.prefix + input_;
  if (!g.has(gradient_)) autodiff(g, loss, {input}, grad_options);
  CompileOptions options{Mode::Eval, {loss, g.find(gradient_)}};
  if (logits != kNoValue) {
    logits_ = g.value(logits).name;
    options.targets.push_back(logits);
    host_logits_ = Tensor::zeros(g.value(logits).shape, DType::F32);
  }
  // The step node: the loop body is forward, input gradient and step, all on the Plan's backend.
  origin_ = input_ + ".pgd_origin";
  const Shape shape = g.value(input).shape;  // a copy: adding values moves the value table
  if (!g.has(origin_)) g.input(origin_, shape);
  int index = 0;
  while (g.has("attack.step." + std::to_string(index))) ++index;
  next_ = "attack.step." + std::to_string(index);
  Val next = pgd_step(Val{&g, input}, Val{&g, g.find(origin_)}, Val{&g, g.find(gradient_)},
                      config_.epsilon, config_.step_size, config_.norm == PgdNorm::L2, next_);
  g.mark_output(next.id, next_);
  options.targets.push_back(next.id);
  // Eval mode: BN uses running statistics, as attacks on a trained model do.
  plan_ = compile(g, variables_, options);
  if (config_.start != PgdStart::None) {
    // The random start: its own one-node Plan, run once per attack with the batch's key.
    key_ = input_ + ".pgd_key";
    if (!g.has(key_)) g.input(key_, Shape{2}, DType::I32);
    start_ = "attack.start." + std::to_string(index);
    PgdStartAttrs attrs;
    attrs.kind = config_.start == PgdStart::Trades ? PgdStartAttrs::Trades : PgdStartAttrs::Uniform;
    attrs.epsilon = config_.epsilon;
    attrs.l2 = config_.norm == PgdNorm::L2;
    attrs.seed = config_.seed;
    // Data-parallel: this rank's rows of the global batch draw as they would in one process.
    attrs.first_row = static_cast<int64_t>(world().rank()) * shape[0];
    attrs.total_rows = static_cast<int64_t>(world().size()) * shape[0];
    Val start = pgd_start(Val{&g, g.find(origin_)}, Val{&g, g.find(key_)}, attrs, start_);
    g.mark_output(start.id, start_);
    start_plan_ = compile(g, variables_, CompileOptions{Mode::Eval, {start.id}});
    host_key_ = Tensor::zeros(Shape{2}, DType::I32);
  }
  step_losses_device_ = variables_.backend().allocate(Shape{config_.steps}, DType::F32);
  host_step_losses_ = Tensor::zeros(Shape{config_.steps}, DType::F32);
  if (config_.restarts > 1) candidate_ = Tensor::zeros(shape, DType::F32);
}

void PgdAttack::run(const Tensor& images, const Tensor& labels, const Tensor& adversarial,
                    uint64_t batch_index) {
  if (variables_.has("labels")) variables_.backend().copy(variables_.get("labels"), labels);
  set_clean_target(images);
  if (config_.restarts == 1) return attack_once(images, adversarial, batch_index, 0);
  ADVMOE_CHECK(adversarial.device().kind == DeviceKind::CPU,
               "PGD with restarts keeps each sample's worst case in a host tensor");
  for (int r = 0; r < config_.restarts; ++r) {
    attack_once(images, candidate_, batch_index, r);
    keep_worst(candidate_, labels, adversarial, r == 0);
  }
}

void PgdAttack::run(const Tensor& images, const Tensor& adversarial, uint64_t batch_index) {
  ADVMOE_CHECK(config_.restarts == 1,
               "PGD restarts score samples with their labels: call run(images, labels, ...)");
  set_clean_target(images);
  attack_once(images, adversarial, batch_index, 0);
}

void PgdAttack::set_clean_target(const Tensor& images) {
  if (clean_logits_.empty()) return;
  // The KL objective's target: the model's output on x0 (the loss the plan computes on the way
  // is meaningless here, only the logits are read).
  Backend& backend = variables_.backend();
  backend.copy(variables_.get(input_), images);
  plan_->run();
  backend.copy(variables_.get(clean_logits_), variables_.get(logits_));
}

void PgdAttack::attack_once(const Tensor& images, const Tensor& adversarial, uint64_t batch_index,
                            int restart) {
  Backend& backend = variables_.backend();
  const Tensor& x = variables_.get(input_);
  const Tensor& next = variables_.get(next_);
  const Tensor& loss = variables_.get(loss_);
  backend.copy(variables_.get(origin_), images);
  if (start_.empty()) {
    backend.copy(x, variables_.get(origin_));
  } else {
    // Philox subsequence of this batch and restart; restart 0 keeps the stream a single attack
    // always used, so restarts only add candidates.
    uint64_t key = 0xA77AC000ull + batch_index + (static_cast<uint64_t>(restart) << 40);
    host_key_.data<int32_t>()[0] = static_cast<int32_t>(static_cast<uint32_t>(key));
    host_key_.data<int32_t>()[1] = static_cast<int32_t>(static_cast<uint32_t>(key >> 32));
    backend.copy(variables_.get(key_), host_key_);
    start_plan_->run();
    backend.copy(x, variables_.get(start_));
  }
  // K steps without a host round trip: each run computes the loss, the gradient and the next
  // input; device-to-device copies move them into place and into the per-step loss record.
  for (int k = 0; k < config_.steps; ++k) {
    plan_->run();
    backend.copy(Tensor(step_losses_device_.storage(), sizeof(float) * static_cast<size_t>(k),
                        Shape{}, DType::F32),
                 loss);
    backend.copy(x, next);
  }
  if (adversarial.raw() != x.raw()) backend.copy(adversarial, x);
  backend.copy(host_step_losses_, step_losses_device_);
  step_losses_.assign(host_step_losses_.data<float>(),
                      host_step_losses_.data<float>() + config_.steps);
}

void PgdAttack::keep_worst(const Tensor& candidate, const Tensor& labels, const Tensor& best,
                           bool first) {
  Backend& backend = variables_.backend();
  backend.copy(variables_.get(input_), candidate);
  plan_->run();
  backend.copy(host_logits_, variables_.get(logits_));
  const int64_t batch = host_logits_.shape()[0], classes = host_logits_.shape()[1];
  const int64_t per = candidate.numel() / batch;
  best_score_.resize(static_cast<size_t>(batch));
  const float* z = host_logits_.data<float>();
  const int32_t* y = labels.data<int32_t>();
  for (int64_t s = 0; s < batch; ++s) {
    bool correct = false;
    double loss = sample_cross_entropy(z + s * classes, classes, y[s], &correct);
    double score = (correct ? 0 : 1e9) + loss;
    if (first || score > best_score_[static_cast<size_t>(s)]) {
      best_score_[static_cast<size_t>(s)] = score;
      std::copy(candidate.data<float>() + s * per, candidate.data<float>() + (s + 1) * per,
                best.data<float>() + s * per);
    }
  }
}

}  // namespace advmoe
