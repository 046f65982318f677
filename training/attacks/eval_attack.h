// The interface of the evaluation attacks the AutoAttack cascade chains (APGD-CE, APGD-DLR,
// APGD-T, FAB-T, Square): each attacks one host batch of clean images and says, per row, whether
// it found a misclassified point in the eps-ball and which point it ends with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace advmoe {

struct AttackBatch {
  Tensor images;     // host [B, H, W, C], clean, in [0, 1]
  Tensor labels;     // host i32 [B]
  int64_t rows = 0;  // rows [0, rows) are real; the rest is padding and never attacked
  uint64_t key = 0;  // selects the batch's random draws (the same batch gives the same draws)
};

struct AttackOutcome {
  // host [B, H, W, C]: for a fooled row the misclassified point found, else the attack's worst
  // point for the model (highest loss); always inside the eps-ball and [0, 1].
  Tensor adversarial;
  std::vector<uint8_t> fooled;  // per row
};

class EvalAttack {
 public:
  virtual ~EvalAttack() = default;
  // e.g. "apgd-ce", "apgd-t (router STE)": names the attack in reports and files.
  virtual std::string name() const = 0;
  virtual void run(const AttackBatch& batch, AttackOutcome& outcome) = 0;
};

}  // namespace advmoe
