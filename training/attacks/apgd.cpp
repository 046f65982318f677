// APGD's loop: random start, momentum steps, best-point tracking, step-size checkpoints.
#include "training/attacks/apgd.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/attack.h"
#include "runtime/philox.h"

namespace advmoe {

namespace {

SampleLossAttrs::Kind loss_kind(ApgdLoss loss) {
  switch (loss) {
    case ApgdLoss::CrossEntropy:
      return SampleLossAttrs::CrossEntropy;
    case ApgdLoss::Dlr:
      return SampleLossAttrs::Dlr;
    case ApgdLoss::DlrTargeted:
      return SampleLossAttrs::DlrTargeted;
  }
  return SampleLossAttrs::CrossEntropy;
}

void copy_row(const Tensor& from, const Tensor& to, int64_t row, int64_t per) {
  std::memcpy(to.data<float>() + row * per, from.data<float>() + row * per,
              sizeof(float) * static_cast<size_t>(per));
}

}  // namespace

// ---- the step-size schedule -------------------------------------------------------------------

ApgdStepSchedule::ApgdStepSchedule(int iterations, double initial_step, double rho)
    : initial_step_(initial_step), rho_(rho), checkpoints_(apgd_checkpoints(iterations)) {}

void ApgdStepSchedule::start(const std::vector<double>& start_loss) {
  const size_t n = start_loss.size();
  step_.assign(n, initial_step_);
  best_ = start_loss;
  previous_ = start_loss;
  best_at_last_check_ = start_loss;
  increases_.assign(n, 0);
  // Before the first checkpoint rule (2) cannot apply: as if the step had just been halved.
  halved_last_.assign(n, 1);
  improved_.assign(n, 0);
  halved_.assign(n, 0);
  next_checkpoint_ = 0;
  interval_start_ = 0;
}

void ApgdStepSchedule::observe(int iteration, const std::vector<double>& loss) {
  const size_t n = best_.size();
  ADVMOE_CHECK(loss.size() == n,
               "APGD schedule: " << loss.size() << " losses for " << n << " samples");
  for (size_t s = 0; s < n; ++s) {
    improved_[s] = loss[s] > best_[s];
    if (improved_[s]) best_[s] = loss[s];
    increases_[s] += loss[s] > previous_[s];
    previous_[s] = loss[s];
  }
  std::fill(halved_.begin(), halved_.end(), 0);
  if (next_checkpoint_ >= checkpoints_.size() || iteration != checkpoints_[next_checkpoint_])
    return;
  const int interval = iteration - interval_start_ + 1;
  for (size_t s = 0; s < n; ++s) {
    const bool oscillating = increases_[s] <= rho_ * interval;
    const bool stalled = !halved_last_[s] && best_at_last_check_[s] >= best_[s];
    halved_[s] = oscillating || stalled;
    halved_last_[s] = halved_[s];
    best_at_last_check_[s] = best_[s];
    if (halved_[s]) step_[s] /= 2;
    increases_[s] = 0;
  }
  ++next_checkpoint_;
  interval_start_ = iteration + 1;
}

// ---- the attack -------------------------------------------------------------------------------

ApgdAttack::ApgdAttack(AttackModel& model, ApgdConfig config) : model_(model), config_(config) {
  ADVMOE_CHECK(config.epsilon >= 0 && config.iterations >= 1 && config.restarts >= 1 &&
                   config.target_classes >= 1 && config.rho > 0 && config.rho <= 1,
               "APGD needs epsilon >= 0, at least one iteration, restart and target class and "
               "rho in (0, 1]; got epsilon "
                   << config.epsilon << ", " << config.iterations << " iterations, "
                   << config.restarts << " restarts, " << config.target_classes
                   << " target classes, rho " << config.rho);
  const int64_t needed = config.loss == ApgdLoss::Dlr           ? 3
                         : config.loss == ApgdLoss::DlrTargeted ? 4
                                                                : 2;
  ADVMOE_CHECK(model.classes() >= needed, name() << " needs at least " << needed
                                                 << " classes; the model has " << model.classes());
  loss_ = &model.loss_gradient(loss_kind(config.loss), config.router_gradient);
  Graph& g = *model.model().graph;
  const Shape shape = model.model().images.shape();
  const int64_t batch = shape[0];
  auto input = [&](const std::string& name, const Shape& s) {
    return Val{&g, g.has(name) ? g.find(name) : g.input(name, s)};
  };
  Val x0 = input("attack.x0", shape), previous = input("attack.apgd_previous", shape);
  Val eta = input("attack.apgd_eta", Shape{batch}), alpha = input("attack.apgd_alpha", Shape{});
  // One step node per (gradient, norm, radius), reused by later attacks with the same three.
  next_ = "attack.apgd_next/" + loss_->gradient + (config.norm == PgdNorm::L2 ? "/l2/" : "/linf/") +
          std::to_string(config.epsilon);
  if (!g.has(next_)) {
    Val next = apgd_step(model.model().images, previous, x0, Val{&g, g.find(loss_->gradient)}, eta,
                         alpha, config.epsilon, config.norm == PgdNorm::L2);
    g.mark_output(next.id, next_);
  }
  // The step alone: it reads the gradient the loss Plan left in its variable.
  step_plan_ = compile(g, model.variables(),
                       CompileOptions{Mode::Eval, {g.find(next_)}, {g.find(loss_->gradient)}});
  host_x_ = Tensor::zeros(shape, DType::F32);
  x_best_ = Tensor::zeros(shape, DType::F32);
  g_best_ = Tensor::zeros(shape, DType::F32);
  host_eta_ = Tensor::zeros(Shape{batch}, DType::F32);
  host_alpha_ = Tensor::zeros(Shape{}, DType::F32);
}

std::string ApgdAttack::name() const {
  std::string base = config_.loss == ApgdLoss::CrossEntropy ? "apgd-ce"
                     : config_.loss == ApgdLoss::Dlr        ? "apgd-dlr"
                                                            : "apgd-t";
  return config_.router_gradient == RouterGradient::StraightThrough ? base + " (router STE)" : base;
}

void ApgdAttack::random_start(const AttackBatch& batch, uint64_t stream, Tensor& x) const {
  // x0 + eps * u, u uniform in [-1, 1]^d rescaled to max |u_i| = 1 (L-inf) or a normal direction
  // of length 1 (L2), then clipped to [0, 1] (AutoAttack's start).
  const int64_t per = model_.sample_elements();
  const float* x0 = batch.images.data<float>();
  float* out = x.data<float>();
  const bool l2 = config_.norm == PgdNorm::L2;
  for (int64_t s = 0; s < batch.images.shape()[0]; ++s) {
    std::vector<double> u(static_cast<size_t>(per));
    double scale = 0;
    for (int64_t i = 0; i < per; ++i) {
      const uint64_t index = static_cast<uint64_t>(s * per + i);
      u[static_cast<size_t>(i)] = l2 ? philox_normal(config_.seed, stream, index)
                                     : 2.0 * philox_uniform_f64(config_.seed, stream, index) - 1;
      const double v = u[static_cast<size_t>(i)];
      scale = l2 ? scale + v * v : std::max(scale, std::fabs(v));
    }
    scale = l2 ? std::sqrt(scale) : scale;
    scale = scale > 0 ? config_.epsilon / scale : 0;
    for (int64_t i = 0; i < per; ++i)
      out[s * per + i] = static_cast<float>(
          std::clamp(x0[s * per + i] + scale * u[static_cast<size_t>(i)], 0.0, 1.0));
  }
}

void ApgdAttack::run(const AttackBatch& batch, AttackOutcome& outcome) {
  const int64_t b = model_.batch();
  ADVMOE_CHECK(
      batch.images.shape()[0] == b && batch.rows <= b,
      name() << ": batch of " << batch.images.shape()[0] << " rows for a model of batch " << b);
  outcome.adversarial = batch.images.clone();
  outcome.fooled.assign(static_cast<size_t>(b), 0);
  model_.set_labels(batch.labels);
  std::vector<double> best_loss(static_cast<size_t>(b), -1e300);
  auto active_rows = [&] {
    std::vector<uint8_t> active(static_cast<size_t>(b), 0);
    for (int64_t s = 0; s < batch.rows; ++s)
      active[static_cast<size_t>(s)] = !outcome.fooled[static_cast<size_t>(s)];
    return active;
  };
  // Streams: distinct per restart and per target rank; the batch key keys the batch.
  const uint64_t base = 0xA9D0000000ull + (batch.key << 8);
  if (config_.loss != ApgdLoss::DlrTargeted) {
    for (int r = 0; r < config_.restarts; ++r) {
      std::vector<uint8_t> active = active_rows();
      if (config_.stop_early &&
          std::none_of(active.begin(), active.end(), [](uint8_t a) { return a; }))
        break;
      run_once(batch, active, base + static_cast<uint64_t>(r), outcome, best_loss);
    }
    return;
  }
  // APGD-T: the targets are ranked by the clean logits.
  const std::vector<std::vector<int32_t>> ranks = model_.rank_classes(batch.images);
  const int64_t k = model_.classes();
  const int targets = static_cast<int>(std::min<int64_t>(config_.target_classes, k - 1));
  for (int rank = 1; rank <= targets; ++rank) {
    std::vector<uint8_t> active = active_rows();
    if (std::none_of(active.begin(), active.end(), [](uint8_t a) { return a; })) break;
    model_.set_target_rank(ranks, rank);
    for (int r = 0; r < config_.restarts; ++r) {
      active = active_rows();
      if (std::none_of(active.begin(), active.end(), [](uint8_t a) { return a; })) break;
      run_once(batch, active, base + static_cast<uint64_t>(rank * 16 + r), outcome, best_loss);
    }
  }
}

void ApgdAttack::run_once(const AttackBatch& batch, const std::vector<uint8_t>& active,
                          uint64_t stream, AttackOutcome& outcome, std::vector<double>& best_loss) {
  Backend& backend = model_.backend();
  Variables& vars = model_.variables();
  const int64_t b = model_.batch(), per = model_.sample_elements(), k = model_.classes();
  const int32_t* labels = batch.labels.data<int32_t>();
  backend.copy(vars.get("attack.x0"), batch.images);
  random_start(batch, stream, host_x_);
  model_.set_images(host_x_);

  std::vector<double> loss(static_cast<size_t>(b));
  std::vector<int64_t> rows;
  // Evaluates the current point: loss and gradient; records misclassified rows.
  auto evaluate = [&] {
    loss_->plan->run();
    const float* l = model_.fetch(loss_->loss).data<float>();
    for (int64_t s = 0; s < b; ++s) loss[static_cast<size_t>(s)] = l[s];
    const float* z = model_.fetch("logits").data<float>();
    const Tensor* x = nullptr;  // fetched only when a row is newly misclassified
    double total = 0;
    int64_t count = 0;
    for (int64_t s = 0; s < b; ++s) {
      if (!active[static_cast<size_t>(s)]) continue;
      total += loss[static_cast<size_t>(s)];
      ++count;
      if (!outcome.fooled[static_cast<size_t>(s)] && predicted_class(z + s * k, k) != labels[s]) {
        outcome.fooled[static_cast<size_t>(s)] = 1;
        if (!x) x = &model_.fetch("images");
        copy_row(*x, outcome.adversarial, s, per);
      }
    }
    mean_losses_.push_back(count ? total / count : 0);
  };
  mean_losses_.clear();
  evaluate();
  ApgdStepSchedule schedule(config_.iterations, 2 * config_.epsilon, config_.rho);
  schedule.start(loss);
  std::memcpy(x_best_.raw(), model_.fetch("images").raw(), x_best_.bytes());
  std::memcpy(g_best_.raw(), model_.fetch(loss_->gradient).raw(), g_best_.bytes());
  backend.copy(vars.get("attack.apgd_previous"), vars.get("images"));

  const Tensor& eta = vars.get("attack.apgd_eta");
  for (int i = 0; i < config_.iterations; ++i) {
    for (int64_t s = 0; s < b; ++s)
      host_eta_.data<float>()[s] = static_cast<float>(schedule.step(static_cast<size_t>(s)));
    backend.copy(eta, host_eta_);
    host_alpha_.data<float>()[0] = i == 0 ? 1.0f : 0.75f;  // no momentum on the first step
    backend.copy(vars.get("attack.apgd_alpha"), host_alpha_);
    step_plan_->run();
    backend.copy(vars.get("attack.apgd_previous"), vars.get("images"));
    backend.copy(vars.get("images"), vars.get(next_));
    evaluate();
    schedule.observe(i, loss);
    // Improved rows: remember the point and its gradient (a restart resumes from both); both
    // are fetched only when some row improved (on a GPU each fetch copies the batch).
    const std::vector<uint8_t>& improved = schedule.improved();
    if (std::any_of(improved.begin(), improved.end(), [](uint8_t v) { return v; })) {
      const Tensor& x = model_.fetch("images");
      const Tensor& g = model_.fetch(loss_->gradient);
      for (int64_t s = 0; s < b; ++s)
        if (improved[static_cast<size_t>(s)]) {
          copy_row(x, x_best_, s, per);
          copy_row(g, g_best_, s, per);
        }
    }
    rows.clear();
    for (int64_t s = 0; s < b; ++s)
      if (schedule.halved()[static_cast<size_t>(s)]) rows.push_back(s);
    if (!rows.empty()) {
      model_.put_rows("images", x_best_, rows);
      model_.put_rows(loss_->gradient, g_best_, rows);
    }
    // Once every attacked row is misclassified nothing can change the outcome.
    bool open = false;
    for (int64_t s = 0; s < b && !open; ++s)
      open = active[static_cast<size_t>(s)] && !outcome.fooled[static_cast<size_t>(s)];
    if (!open && config_.stop_early) break;
  }
  // Rows this run did not fool end at their highest-loss point, if it beats earlier runs'.
  for (int64_t s = 0; s < b; ++s) {
    const size_t r = static_cast<size_t>(s);
    if (!active[r] || outcome.fooled[r] || schedule.best(r) <= best_loss[r]) continue;
    best_loss[r] = schedule.best(r);
    copy_row(x_best_, outcome.adversarial, s, per);
  }
}

}  // namespace advmoe
