// The Square attack, L-inf (Andriushchenko et al., ECCV 2020, "Square Attack: a query-efficient
// black-box adversarial attack via random search"), as AutoAttack runs it: gradient-free, so it
// also finds what gradient masking (e.g. through an MoE router's hard top-1) hides from APGD and
// FAB. Start: vertical stripes, x0 +- eps per (column, channel). Each query changes one random
// window (side from the fraction schedule p, halved at AutoAttack's query marks rescaled to the
// query budget) to x_best + 2 eps s with one random sign per channel, projected onto the ball and
// [0, 1], and keeps it for the rows whose margin z_y - max_{i != y} z_i fell; a row stops once
// misclassified. One eval-mode forward Plan (AttackModel::forward) per query; the random search
// runs on the host.
#pragma once

#include <string>

#include "training/attacks/attack_model.h"
#include "training/attacks/eval_attack.h"

namespace advmoe {

struct SquareConfig {
  double epsilon = 8.0 / 255;
  int queries = 5000;
  double p_init = 0.8;
  uint64_t seed = 0;
  bool stop_early = true;  // stop when every row is misclassified (benchmarks: off)
};

// AutoAttack's fraction of pixels changed at query `query` of `budget` (its schedule is written for
// 10,000 queries and rescaled to the budget).
double square_fraction(int query, int budget, double p_init);

class SquareAttack : public EvalAttack {
 public:
  SquareAttack(AttackModel& model, SquareConfig config);
  std::string name() const override { return "square"; }
  void run(const AttackBatch& batch, AttackOutcome& outcome) override;
  int queries_used() const { return queries_used_; }  // of the last run, after the start

 private:
  AttackModel& model_;
  SquareConfig config_;
  int queries_used_ = 0;
};

}  // namespace advmoe
