// FAB-T's loop: per target, boundary steps, closest-misclassified tracking and the pull-back.
#include "training/attacks/fab.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/attack.h"

namespace advmoe {

namespace {}  // namespace

FabAttack::FabAttack(AttackModel& model, FabConfig config) : model_(model), config_(config) {
  ADVMOE_CHECK(config.epsilon >= 0 && config.iterations >= 1 && config.target_classes >= 1 &&
                   config.beta > 0 && config.beta <= 1,
               "FAB needs epsilon >= 0, at least one iteration and target class and beta in (0, "
               "1]; got epsilon "
                   << config.epsilon << ", " << config.iterations << " iterations, "
                   << config.target_classes << " targets, beta " << config.beta);
  margin_ = &model.loss_gradient(SampleLossAttrs::TargetMargin, config.router_gradient);
  Graph& g = *model.model().graph;
  const Shape shape = model.model().images.shape();
  Val x0{&g, g.has("attack.x0") ? g.find("attack.x0") : g.input("attack.x0", shape)};
  FabStepAttrs attrs{config.eta, config.alpha_max, config.norm == PgdNorm::L2};
  next_ = std::string("attack.fab_next.") + (attrs.l2 ? "l2" : "linf") +
          (config.router_gradient == RouterGradient::StraightThrough ? ".ste" : "");
  if (!g.has(next_)) {
    Val next = fab_step(model.model().images, x0, Val{&g, g.find(margin_->gradient)},
                        Val{&g, g.find(margin_->loss)}, attrs);
    g.mark_output(next.id, next_);
  }
  // The step alone: it reads w and f where the gradient Plan left them.
  step_plan_ =
      compile(g, model.variables(),
              CompileOptions{
                  Mode::Eval, {g.find(next_)}, {g.find(margin_->gradient), g.find(margin_->loss)}});
  closest_ = Tensor::zeros(shape, DType::F32);
}

std::string FabAttack::name() const {
  return config_.router_gradient == RouterGradient::StraightThrough ? "fab-t (router STE)"
                                                                    : "fab-t";
}

void FabAttack::run(const AttackBatch& batch, AttackOutcome& outcome) {
  Backend& backend = model_.backend();
  Variables& vars = model_.variables();
  const int64_t b = model_.batch(), per = model_.sample_elements(), k = model_.classes();
  const int32_t* labels = batch.labels.data<int32_t>();
  const float* x0 = batch.images.data<float>();
  outcome.adversarial = batch.images.clone();
  outcome.fooled.assign(static_cast<size_t>(b), 0);
  minimum_norms_.assign(static_cast<size_t>(b), 1e10);
  model_.set_labels(batch.labels);
  backend.copy(vars.get("attack.x0"), batch.images);

  const std::vector<std::vector<int32_t>> ranks = model_.rank_classes(batch.images);
  const int targets = static_cast<int>(std::min<int64_t>(config_.target_classes, k - 1));
  Tensor x = Tensor::zeros(batch.images.shape(), DType::F32);
  std::vector<int64_t> all_rows(static_cast<size_t>(b));
  for (int64_t s = 0; s < b; ++s) all_rows[static_cast<size_t>(s)] = s;
  for (int rank = 1; rank <= targets; ++rank) {
    // Rows already fooled within eps by an earlier target are done (AutoAttack attacks only the
    // rows still robust with each new target).
    std::vector<uint8_t> active(static_cast<size_t>(b), 0);
    bool any = false;
    for (int64_t s = 0; s < batch.rows; ++s)
      any |= active[static_cast<size_t>(s)] =
          minimum_norms_[static_cast<size_t>(s)] > config_.epsilon;
    if (!any) break;
    model_.set_target_rank(ranks, rank);
    std::vector<double> closest(static_cast<size_t>(b), 1e10);  // this target's best norm
    model_.set_images(batch.images);
    for (int i = 0; i < config_.iterations; ++i) {
      margin_->plan->run();
      step_plan_->run();
      backend.copy(vars.get("images"), vars.get(next_));
      const float* z = model_.forward().data<float>();
      std::memcpy(x.raw(), model_.fetch("images").raw(), x.bytes());
      float* xs = x.data<float>();
      for (int64_t s = 0; s < b; ++s) {
        const size_t r = static_cast<size_t>(s);
        if (!active[r] || predicted_class(z + s * k, k) == labels[s]) continue;
        const double norm = perturbation_norm(xs + s * per, x0 + s * per, per, config_.norm);
        if (norm < closest[r]) {
          closest[r] = norm;
          std::memcpy(closest_.data<float>() + s * per, xs + s * per, sizeof(float) * per);
        }
        // Pull the misclassified point back towards x0: the next steps look for a closer one.
        for (int64_t j = s * per; j < (s + 1) * per; ++j)
          xs[j] = static_cast<float>(x0[j] + config_.beta * (static_cast<double>(xs[j]) - x0[j]));
      }
      model_.put_rows("images", x, all_rows);
    }
    for (int64_t s = 0; s < b; ++s) {
      const size_t r = static_cast<size_t>(s);
      if (!active[r] || closest[r] >= minimum_norms_[r]) continue;
      minimum_norms_[r] = closest[r];
      if (closest[r] <= config_.epsilon) {
        outcome.fooled[r] = 1;
        std::memcpy(outcome.adversarial.data<float>() + s * per, closest_.data<float>() + s * per,
                    sizeof(float) * per);
      }
    }
  }
}

}  // namespace advmoe
