// The model side of the evaluation attacks: forward and loss-gradient Plans, host staging.
#include "training/attacks/attack_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "compile/autodiff.h"
#include "ops/basic.h"
#include "ops/losses.h"
#include "training/evaluate.h"

namespace advmoe {

namespace {

const char* loss_kind_name(SampleLossAttrs::Kind kind) {
  switch (kind) {
    case SampleLossAttrs::CrossEntropy:
      return "ce";
    case SampleLossAttrs::Dlr:
      return "dlr";
    case SampleLossAttrs::DlrTargeted:
      return "dlr_targeted";
    case SampleLossAttrs::TargetMargin:
      return "target_margin";
  }
  return "?";
}

bool is_targeted(SampleLossAttrs::Kind kind) {
  return kind == SampleLossAttrs::DlrTargeted || kind == SampleLossAttrs::TargetMargin;
}

}  // namespace

AttackModel::AttackModel(Model& model, Variables& variables)
    : model_(model), variables_(variables) {
  const Shape images = model.images.shape();
  batch_ = images[0];
  per_sample_ = images.numel() / batch_;
  classes_ = model.logits.shape()[1];
  routes_ = mark_route_outputs(model);
  CompileOptions options{Mode::Eval, {model.logits.id}};
  for (const std::string& route : routes_) options.targets.push_back(model.graph->find(route));
  forward_ = compile(*model.graph, variables_, options);
  host_targets_ = Tensor::zeros(Shape{batch_}, DType::I32);
}

LossGradientPlan& AttackModel::loss_gradient(SampleLossAttrs::Kind kind,
                                             RouterGradient router_gradient) {
  const auto key = std::make_pair(static_cast<int>(kind), static_cast<int>(router_gradient));
  auto found = loss_plans_.find(key);
  if (found != loss_plans_.end()) return found->second;
  Graph& g = *model_.graph;
  const std::string loss_name = std::string("attack.sample_loss.") + loss_kind_name(kind);
  const std::string sum_name = loss_name + ".sum";
  if (!g.has(loss_name)) {
    Val loss;
    if (is_targeted(kind)) {
      if (!g.has("attack.targets")) g.input("attack.targets", Shape{batch_}, DType::I32);
      loss = sample_loss(model_.logits, model_.labels, Val{&g, g.find("attack.targets")},
                         SampleLossAttrs{kind});
    } else {
      loss = sample_loss(model_.logits, model_.labels, SampleLossAttrs{kind});
    }
    g.mark_output(loss.id, loss_name);
    // Samples are independent in eval mode, so the gradient of the sum is each sample's own.
    g.mark_loss(sum(loss).id, sum_name);
  }
  AutodiffOptions grad_options;
  grad_options.straight_through_routes = router_gradient == RouterGradient::StraightThrough;
  grad_options.prefix =
      (grad_options.straight_through_routes ? "grad_ste/" : "grad/") + sum_name + "/";
  const std::string gradient = grad_options.prefix + g.value(model_.images.id).name;
  if (!g.has(gradient)) {
    autodiff(g, g.find(sum_name), {model_.images.id}, grad_options);  // an Output named `gradient`
  }
  CompileOptions options{Mode::Eval, {g.find(loss_name), g.find(gradient), model_.logits.id}};
  LossGradientPlan entry{compile(g, variables_, options), loss_name, gradient};
  return loss_plans_.emplace(key, std::move(entry)).first->second;
}

void AttackModel::set_images(const Tensor& host_images) {
  backend().copy(variables_.get("images"), host_images);
}

void AttackModel::set_clean_images(const Tensor& host_images) {
  set_images(host_images);
  set_clean_companion(variables_, host_images);
}

void AttackModel::set_labels(const Tensor& host_labels) {
  backend().copy(variables_.get("labels"), host_labels);
}

void AttackModel::set_targets(const std::vector<int32_t>& targets) {
  std::copy(targets.begin(), targets.end(), host_targets_.data<int32_t>());
  backend().copy(variables_.get("attack.targets"), host_targets_);
}

std::vector<std::vector<int32_t>> AttackModel::rank_classes(const Tensor& host_images) {
  set_images(host_images);
  const float* z = forward().data<float>();
  std::vector<std::vector<int32_t>> ranks;
  for (int64_t s = 0; s < batch_; ++s) ranks.push_back(ranked_classes(z + s * classes_, classes_));
  return ranks;
}

void AttackModel::set_target_rank(const std::vector<std::vector<int32_t>>& ranks, int rank) {
  std::vector<int32_t> targets;
  for (const std::vector<int32_t>& row : ranks)
    targets.push_back(row.at(static_cast<size_t>(rank)));
  set_targets(targets);
}

const Tensor& AttackModel::forward() {
  forward_->run();
  return fetch("logits");
}

std::vector<std::vector<int32_t>> AttackModel::last_routes() {
  std::vector<std::vector<int32_t>> routes;
  for (const std::string& name : routes_) {
    const Tensor& r = fetch(name);
    routes.emplace_back(r.data<int32_t>(), r.data<int32_t>() + r.numel());
  }
  return routes;
}

const Tensor& AttackModel::fetch(const std::string& name) {
  const Tensor& value = variables_.get(name);
  if (value.device().kind == DeviceKind::CPU) return value;
  Tensor& staging = staging_[name];
  if (staging.numel() != value.numel()) staging = Tensor::zeros(value.shape(), value.dtype());
  backend().copy(staging, value);
  return staging;
}

void AttackModel::put_rows(const std::string& name, const Tensor& source,
                           const std::vector<int64_t>& rows) {
  const Tensor& value = variables_.get(name);
  ADVMOE_CHECK(
      source.numel() == value.numel() && source.dtype() == value.dtype(),
      "put_rows: '" << name << "' is " << value.shape() << ", the source " << source.shape());
  const size_t row_bytes = value.bytes() / static_cast<size_t>(value.shape()[0]);
  const Shape row_shape{static_cast<int64_t>(row_bytes / dtype_size(value.dtype()))};
  for (int64_t r : rows) {
    const size_t offset = row_bytes * static_cast<size_t>(r);
    if (value.device().kind == DeviceKind::CPU) {
      std::memcpy(static_cast<char*>(value.raw()) + offset,
                  static_cast<const char*>(source.raw()) + offset, row_bytes);
    } else {
      backend().copy(
          Tensor(value.storage(), value.offset_bytes() + offset, row_shape, value.dtype()),
          Tensor(source.storage(), source.offset_bytes() + offset, row_shape, source.dtype()));
    }
  }
}

std::vector<int> apgd_checkpoints(int iterations) {
  const int first = std::max(static_cast<int>(0.22 * iterations), 1);
  const int shrink = std::max(static_cast<int>(0.03 * iterations), 1);
  const int shortest = std::max(static_cast<int>(0.06 * iterations), 1);
  std::vector<int> points;
  int gap = first;
  for (int at = first - 1; at < iterations; at += gap) {
    points.push_back(at);
    gap = std::max(gap - shrink, shortest);
  }
  return points;
}

std::vector<int32_t> ranked_classes(const float* logits, int64_t classes) {
  std::vector<int32_t> order(static_cast<size_t>(classes));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  return order;
}

int32_t predicted_class(const float* logits, int64_t classes) {
  int64_t best = 0;
  for (int64_t j = 1; j < classes; ++j)
    if (logits[j] > logits[best]) best = j;
  return static_cast<int32_t>(best);
}

double perturbation_norm(const float* x, const float* x0, int64_t n, PgdNorm norm) {
  double d = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = std::fabs(static_cast<double>(x[i]) - x0[i]);
    d = norm == PgdNorm::L2 ? d + v * v : std::max(d, v);
  }
  return norm == PgdNorm::L2 ? std::sqrt(d) : d;
}

double classification_margin(const float* logits, int64_t classes, int32_t label) {
  double other = -1e300;
  for (int64_t j = 0; j < classes; ++j)
    if (j != label) other = std::max(other, static_cast<double>(logits[j]));
  return logits[label] - other;
}

}  // namespace advmoe
