// The AutoAttack evaluation (Croce & Hein, ICML 2020) over a whole test set: a cascade of attacks
// (standard: APGD-CE -> APGD-T -> FAB-T -> Square), each run from the clean image on the points
// every earlier attack left robust, so a point's outcome is the per-sample worst case over all of
// them (RA-AA). Also: AutoAttack's sanity checks, per-attack expert-change statistics for MoE
// models, per-class counts, the worst-case images, and a state file after every batch so an
// interrupted evaluation resumes where it stopped and ends with the same numbers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "training/attacks/apgd.h"
#include "training/attacks/fab.h"
#include "training/attacks/square.h"
#include "training/evaluate.h"

namespace advmoe {

enum class EvalAttackKind { ApgdCe, ApgdDlr, ApgdT, FabT, Square };

struct CascadeConfig {
  std::vector<EvalAttackKind> attacks;
  std::string version = "custom";  // "standard", "fast (non-standard: APGD-CE + APGD-T)", ...
  PgdNorm norm = PgdNorm::Linf;
  double epsilon = 8.0 / 255;
  uint64_t seed = 0;
  // MoE models: each gradient attack also runs with the router's straight-through surrogate (on
  // the points still robust), so the worst case covers both gradients.
  bool router_ste_too = false;
  // Gradient attacks with the straight-through surrogate only (the router-only model of
  // `eval --component router`, whose gradient reaches the image through the routers alone).
  bool router_ste_only = false;
  int apgd_iterations = 100, fab_iterations = 100, square_queries = 5000;
  int target_classes = 9, restarts = 1;
};

// "aa" | "aa-fast" | "apgd-ce" | "apgd-dlr" | "apgd-t" | "fab-t" | "square" -> attacks and version;
// throws naming the accepted values. Square is L-inf only: with L2, "aa" drops it and says so in
// its version.
CascadeConfig cascade_for(const std::string& name, PgdNorm norm);
bool is_cascade_attack(const std::string& name);

struct AttackReport {
  std::string name;
  int64_t attacked = 0, fooled = 0;
  double seconds = 0;
  std::vector<int64_t> fooled_per_class;
  // MoE: of the attacked points, how many changed expert at each MoE layer / at any layer, and
  // expert usage on this attack's adversarial points.
  std::vector<int64_t> route_changed;
  int64_t route_changed_any = 0;
  std::vector<LayerUsage> usage;
};

struct CascadeResult {
  std::string version;
  int64_t total = 0, clean_correct = 0, robust = 0;
  std::vector<int64_t> per_class_total, per_class_clean, per_class_robust;
  std::vector<AttackReport> attacks;
  // Per sample: -2 misclassified clean, -1 robust to every attack, else the attack that fooled it.
  std::vector<int32_t> fooled_by;
  Tensor adversarial;  // [N, H, W, C] the worst-case images (kept on request); clean where robust
  std::vector<std::string> warnings;
  bool finished = false;  // false: stopped early (max_batches); the state file has the rest
  double clean_accuracy() const { return total ? double(clean_correct) / total : 0; }
  double robust_accuracy() const { return total ? double(robust) / total : 0; }
};

struct CascadeRunOptions {
  std::string state_path;    // empty: no state file
  bool keep_images = false;  // fill CascadeResult::adversarial
  int64_t max_batches = -1;  // stop after this many attack batches (tests of resume)
  bool progress = true;
};

// One attack of the cascade's kinds with the cascade's budget (eps, norm, iterations, seed) and
// the given router gradient.
std::unique_ptr<EvalAttack> make_eval_attack(AttackModel& model, EvalAttackKind kind,
                                             const CascadeConfig& config, RouterGradient surrogate);

class EvaluationCascade {
 public:
  // `model` is built with the evaluation batch size and its weights are in `variables`.
  EvaluationCascade(Model& model, Variables& variables, CascadeConfig config);
  ~EvaluationCascade();
  CascadeResult run(const Dataset& test, const CascadeRunOptions& options);
  const std::vector<std::string>& stage_names() const { return names_; }
  AttackModel& attack_model() { return *attack_model_; }

 private:
  CascadeConfig config_;
  std::unique_ptr<AttackModel> attack_model_;
  std::vector<std::unique_ptr<EvalAttack>> stages_;
  std::vector<std::string> names_;
};

}  // namespace advmoe
