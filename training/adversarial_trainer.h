// Adversarial training methods as graph programs over one graph holding two forwards of the
// same weights, on the clean "images" and on "adv_images":
//   pgd-at  (Madry): minimize CE(f(x'), y), x' = PGD-K on CE from a uniform start;
//   trades  (Zhang et al.): minimize CE(f(x), y) + beta * KL(f(x) || f(x')), x' = PGD-K on the KL
//           from x + 0.001 N(0, 1); the clean branch is not detached;
//   advmoe  (AdvMoE, Algorithm 1): every iteration two different batches; on B_phi a fresh attack
//           and an SGD step of the routers (group "router") on the TRADES loss with the backbone
//           fixed, then on B_psi a fresh attack and an SGD step of the backbone (group
//           "backbone") with the routers fixed. Each level's Plan computes its own group's
//           gradients only. One epoch = one pass of B_psi over the training set.
//   advmoe with preset "reference-code" (the paper's public code): a global router and ONE batch
//           per iteration: a backbone step on TRADES whose attack also maximizes the routers' KL
//           KL(r(x) || r(x')), then a fresh attack and a router step on
//           alpha * CE(r(x), y mod N) + beta * KL(r(x) || r(x')).
// Attacks run in eval mode (BN running statistics); training steps in train mode.
#pragma once

#include <memory>
#include <string>

#include "training/classifier_trainer.h"
#include "training/pgd.h"

namespace advmoe {

struct AdversarialConfig {
  std::string method = "trades";  // pgd-at | trades | advmoe
  double epsilon = 8.0 / 255;
  int steps = 2;                 // attack steps K during training
  double step_size = 0;          // 0: 2.5 * epsilon / K (TRADES' rule) ; pgd-at default is the same
  double beta = 6.0;             // TRADES weight of the KL term
  std::string preset = "paper";  // advmoe: paper (Algorithm 1) | reference-code
  double router_lr = 0;          // advmoe: the routers' peak learning rate (0: the backbone's)
  double router_ce_weight = 6.0;  // reference-code: alpha of CE(r(x), y mod N)
  // The training attack's gradient through top-1 routers (training/pgd.h): routes held fixed by
  // default; the straight-through surrogate on request (the public code's attacks).
  RouterGradient router_gradient = RouterGradient::None;
};

class AdversarialTrainer : public ClassifierTrainer {
 public:
  AdversarialTrainer(Model& model, Backend& backend, TrainConfig config, AdversarialConfig adv);

  Plan& train_plan() override { return adv_.method == "advmoe" ? *backbone_.plan : *all_.plan; }
  // advmoe: the Plan of one level ("router" or "backbone"), to inspect what it computes.
  const Plan& level_plan(const std::string& group) const {
    return *(group == "router" ? routers_ : backbone_).plan;
  }
  // advmoe, for tests: one level's attack and SGD step ("router" or "backbone") on the batch in
  // the "images"/"labels" variables; returns its loss.
  double level_step(const std::string& group);
  // Benchmarks: one training iteration on the batch in the "images"/"labels" variables; the
  // paper's AdvMoE draws its router batches from `train`.
  double iterate(const Dataset& train);

 protected:
  void begin_epoch(const Dataset& train, int epoch) override;
  double train_step(int epoch, int64_t step) override;

 private:
  struct Level {
    std::unique_ptr<Plan> plan;  // forward, the group's gradients and its SGD update
    std::string learning_rate;   // the Plan's learning-rate input
    std::string loss;            // the scalar this level minimizes
    double lr_scale = 1.0;       // of the shared schedule (the routers' own LR)
  };
  Level make_level(ValueId loss, const std::vector<ValueId>& params, bool report_outputs,
                   double lr_scale);
  // Attacks the batch in the "images"/"labels" variables into "adv_images", then runs `level`.
  double attacked_step(Level& level, uint64_t batch_key);
  // reference-code: the routers' targets y mod N.
  void set_router_labels();
  double paper_advmoe_step(int epoch, int64_t step, uint64_t key);

  AdversarialConfig adv_;
  bool reference_code_ = false;
  std::unique_ptr<PgdAttack> attack_;
  Level all_, routers_, backbone_;
  // advmoe: host staging of the two batches of an iteration (B_psi set aside while B_phi trains).
  Tensor backbone_images_, backbone_labels_, router_images_, router_labels_;
  // advmoe: the router level's own stream of batches (B_phi), shuffled apart from B_psi.
  std::unique_ptr<BatchLoader> router_batches_;
  int64_t iterations_ = 0;  // iterate() calls
};

}  // namespace advmoe
