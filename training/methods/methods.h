// The training methods (training/method.h says what each minimizes), one class each, composed
// from Levels (training/level.h) and PgdAttacks (training/pgd.h).
#pragma once

#include <memory>
#include <optional>

#include "training/level.h"
#include "training/method.h"

namespace advmoe {

// The values a method's scored Plan reports: the logits and every MoE layer's route.
std::vector<ValueId> scored_values(Model& model);

// The parameters of config.train_groups (all when empty), in creation order; throws for a group
// the model has no parameters in.
std::vector<ValueId> trained_params(const Graph& graph, const MethodConfig& config);

// Standard training: one Level on the clean cross-entropy (+ balance loss) of every parameter.
class StandardTraining : public TrainingMethod {
 public:
  StandardTraining(Model& model, Variables& variables, const MethodConfig& config);
  double iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                 const std::function<void(double)>& check) override;
  Plan& scored_plan() override { return level_->plan(); }

 private:
  Variables& variables_;
  std::optional<Level> level_;
};

// The graph pieces every adversarial method shares: the second forward on "adv_images", the
// clean cross-entropy and TRADES' KL(f(x) || f(x')) between the two forwards.
struct AdversarialBranch {
  Val adv_images, adv_logits, ce_clean, kl;
  std::vector<Model::Router> adv_routers;  // the second forward's routers
};
AdversarialBranch add_adversarial_branch(Model& model);
// The routers of another forward of the model on attacked images: their routes become plan
// outputs ("route/<router>/branch<k>") and the model lists them in branch_routers, so the
// balancer (training/route_balance.h) counts them with the clean forward's.
void add_branch_routers(Model& model, const std::vector<Model::Router>& routers);
// `loss` plus the balance loss of the routers of both forwards (when config.balance_loss > 0).
Val with_balance_loss(Val loss, const Model& model, const AdversarialBranch& branch,
                      const MethodConfig& config);
// The training attack on `objective` w.r.t. the adversarial branch's images.
PgdConfig training_attack(const MethodConfig& config, PgdStart start);

// PGD-AT and TRADES: one Level on every parameter, after an attack on the batch.
class AdversarialTraining : public TrainingMethod {
 public:
  AdversarialTraining(Model& model, Variables& variables, const MethodConfig& config);
  double iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                 const std::function<void(double)>& check) override;
  Plan& scored_plan() override { return level_->plan(); }

 private:
  Variables& variables_;
  std::unique_ptr<PgdAttack> attack_;
  std::optional<Level> level_;
};

// AdvMoE, Algorithm 1: the router level on B_phi, then the backbone level on B_psi, each after
// a fresh attack on its own batch.
class AdvMoePaperTraining : public TrainingMethod {
 public:
  AdvMoePaperTraining(Model& model, Variables& variables, const MethodConfig& config);
  int batches_per_iteration() const override { return 2; }
  // batches = {B_psi, B_phi}.
  double iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                 const std::function<void(double)>& check) override;
  Plan& scored_plan() override { return backbone_->plan(); }
  // One level's attack and step on the batch already in "images"/"labels" (tests, inspection).
  double router_step(uint64_t key, double lr);
  double backbone_step(uint64_t key, double lr);
  const Plan& router_plan() const { return routers_->plan(); }
  const Plan& backbone_plan() const { return backbone_->plan(); }

 private:
  Variables& variables_;
  std::unique_ptr<PgdAttack> attack_;
  std::optional<Level> routers_, backbone_;
};

// AdvMoE as the public code trains it: a global router, both levels on one batch, the backbone's
// first; the router level minimizes alpha * CE(r(x), y mod N) + beta * KL(r(x) || r(x')).
class AdvMoeReferenceTraining : public TrainingMethod {
 public:
  AdvMoeReferenceTraining(Model& model, Variables& variables, const MethodConfig& config);
  double iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                 const std::function<void(double)>& check) override;
  Plan& scored_plan() override { return backbone_->plan(); }
  double router_step(uint64_t key, double lr);
  double backbone_step(uint64_t key, double lr);
  const Plan& router_plan() const { return routers_->plan(); }
  const Plan& backbone_plan() const { return backbone_->plan(); }

 private:
  // The routers' targets y mod N, from the "labels" variable into "router_labels".
  void set_router_labels();

  Model& model_;
  Variables& variables_;
  std::unique_ptr<PgdAttack> attack_;
  std::optional<Level> routers_, backbone_;
  Tensor router_labels_;
};

// RT-ER's ranking: per sample, the expert with the second-highest mean (over the routers) softmax
// probability of the routers' logits (rows [rows, experts], one pointer per router); ties go to
// the lower index. With one router (global routing) this is its second choice.
std::vector<int32_t> second_choices(const std::vector<const float*>& router_logits, int64_t rows,
                                    int64_t experts);

// RT-ER: one Level on every parameter after two attacks on the batch, one against the whole MoE,
// one against each sample's second-choice pathway.
class RtErTraining : public TrainingMethod {
 public:
  RtErTraining(Model& model, Variables& variables, const MethodConfig& config);
  double iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                 const std::function<void(double)>& check) override;
  Plan& scored_plan() override { return level_->plan(); }
  // The routers' eval-mode ranking of the batch in "images" into "rt_er.second_choice".
  void set_second_choices();

 private:
  Model& model_;
  Variables& variables_;
  std::unique_ptr<PgdAttack> attack_, pathway_attack_;
  std::unique_ptr<Plan> rank_plan_;
  std::vector<std::string> router_logits_;
  std::optional<Level> level_;
  Tensor host_route_;
  std::vector<Tensor> host_logits_;  // host staging of the router logits (non-CPU backends)
};

// JTDMoE: on a dual model, a robust-half Level after 1 + N attacks (the robust MoE and each of its
// pathways), then a standard-half Level on the dual output with the robust logits fed in.
class JtdmoeTraining : public TrainingMethod {
 public:
  JtdmoeTraining(Model& model, Variables& variables, const MethodConfig& config);
  double iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                 const std::function<void(double)>& check) override;
  Plan& scored_plan() override { return standard_->plan(); }
  // Steps (a) and (b) on the batch already in "images"/"labels" (tests).
  double robust_step(uint64_t key, double lr);
  double standard_step(double lr);

 private:
  Variables& variables_;
  std::unique_ptr<PgdAttack> attack_;
  std::vector<std::unique_ptr<PgdAttack>> pathway_attacks_;
  std::vector<std::string> pathway_inputs_;
  std::optional<Level> robust_, standard_;
  std::unique_ptr<Plan> frozen_robust_;
};

}  // namespace advmoe
