// The AutoAttack evaluation's state file: its progress (attack, batch) and per-sample record,
// written atomically after every batch so an interrupted evaluation resumes with the same numbers
// (layout: docs/evaluation.md). Internal to EvaluationCascade.
#pragma once

#include <string>
#include <vector>

#include "training/attacks/autoattack.h"

namespace advmoe {

// The evaluation's progress and per-sample record: what the state file holds.
struct Record {
  int32_t stage = 0, next_batch = 0;
  std::vector<int32_t> fooled_by;  // [N]
  std::vector<int32_t> attacked;   // [stages][N]: 1 where the stage attacked the point
  std::vector<int32_t> routes;     // [stages][layers][N]: adversarial route, -1 unattacked
  std::vector<double> seconds;     // [stages]
  Tensor images;                   // [N, H, W, C] when kept (no storage otherwise)
};

// Everything that must match for a state file to belong to this evaluation.
std::string state_fingerprint(const CascadeConfig& c, const std::vector<std::string>& names,
                              const Dataset& test, int64_t batch);

void write_state(const std::string& path, const std::string& print, const Record& r, int64_t layers,
                 int64_t n);
// false when `path` does not exist; an error when it belongs to another evaluation or is damaged.
bool read_state(const std::string& path, const std::string& print, Record& r, int64_t layers,
                int64_t n);

}  // namespace advmoe
