// What every evaluation attack (APGD, FAB, Square) needs from the model, built once per model and
// shared: an eval-mode forward Plan (logits and MoE routes), and per (loss, router gradient) an
// eval-mode Plan of the per-sample attack loss (sample_loss) and its gradient w.r.t. the images
// alone (no weight-gradient node exists in it). Attacks keep their per-sample bookkeeping on the
// host; `fetch` and `put_rows` move exactly the tensors they read or change (on the CPU backends
// the variables are host memory and nothing is copied).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compile/plan.h"
#include "models/model.h"
#include "training/pgd.h"  // RouterGradient, PgdNorm

namespace advmoe {

// Names of the graph values the loss-gradient Plan of one (loss, surrogate) computes.
struct LossGradientPlan {
  std::unique_ptr<Plan> plan;
  std::string loss;      // per-sample loss [B]
  std::string gradient;  // d sum(loss) / d images [B, H, W, C]
};

class AttackModel {
 public:
  AttackModel(Model& model, Variables& variables);

  Model& model() { return model_; }
  Variables& variables() { return variables_; }
  Backend& backend() { return variables_.backend(); }
  int64_t batch() const { return batch_; }
  int64_t classes() const { return classes_; }
  int64_t sample_elements() const { return per_sample_; }  // H * W * C
  bool is_moe() const { return !routes_.empty(); }
  const std::vector<std::string>& route_outputs() const { return routes_; }

  // The Plan for (kind, surrogate), compiled on first use. It reads "images", "labels" and, for
  // targeted kinds, "attack.targets".
  LossGradientPlan& loss_gradient(SampleLossAttrs::Kind kind, RouterGradient router_gradient);

  // Host copies: images [B, ...] and labels [B] into the model's inputs; targets into
  // "attack.targets".
  void set_images(const Tensor& host_images);
  // A new batch's clean images: into "images" and, for models that split routers and experts,
  // into "clean_images" (which later set_images calls leave alone).
  void set_clean_images(const Tensor& host_images);
  void set_labels(const Tensor& host_labels);
  void set_targets(const std::vector<int32_t>& targets);
  // Per row, the classes ranked by the logits of `host_images` (one forward pass), highest first:
  // the targets of APGD-T and FAB-T are ranks 1 .. n. set_target_rank makes each row's class of
  // rank `rank` its target.
  std::vector<std::vector<int32_t>> rank_classes(const Tensor& host_images);
  void set_target_rank(const std::vector<std::vector<int32_t>>& ranks, int rank);
  // Runs the forward Plan on the current "images"; returns the logits on the host.
  const Tensor& forward();
  // Routes of the last forward, per MoE layer, on the host ([layer][sample]).
  std::vector<std::vector<int32_t>> last_routes();

  // The named variable readable on the host: the variable itself on CPU backends, else a copy in
  // a staging tensor owned here (valid until the next fetch of the same name).
  const Tensor& fetch(const std::string& name);
  // Copies rows `rows` of the host tensor `source` (same shape as the variable) into the variable.
  void put_rows(const std::string& name, const Tensor& source, const std::vector<int64_t>& rows);

 private:
  Model& model_;
  Variables& variables_;
  int64_t batch_, classes_, per_sample_;
  std::unique_ptr<Plan> forward_;
  std::vector<std::string> routes_;
  std::map<std::pair<int, int>, LossGradientPlan> loss_plans_;
  std::map<std::string, Tensor> staging_;
  Tensor host_targets_;
};

// The 0-based iterations at which APGD's step size may halve, for `iterations` steps: the first
// after 22% of them, each later gap 3% shorter, down to 6% (AutoAttack's integer form of
// p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06); for 100: 21, 40, 56, 69, 79, 86, 92, 98).
std::vector<int> apgd_checkpoints(int iterations);

// Per sample, the classes ranked by clean logit, highest first (ties: lower index first): the
// targets of APGD-T and FAB-T are ranks 1 .. n (the top-2 .. top-(n+1) classes).
std::vector<int32_t> ranked_classes(const float* logits, int64_t classes);

// The first largest logit's class.
int32_t predicted_class(const float* logits, int64_t classes);

// |x - x0| over n elements in the attack's norm (L-inf: the largest difference).
double perturbation_norm(const float* x, const float* x0, int64_t n, PgdNorm norm);

// z_y - max_{i != y} z_i: positive while the sample is classified correctly.
double classification_margin(const float* logits, int64_t classes, int32_t label);

}  // namespace advmoe
