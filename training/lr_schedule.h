// Learning-rate schedules, evaluated per optimizer step.
#pragma once

#include <cstdint>
#include <string>

namespace advmoe {

struct LrSchedule {
  std::string kind = "cosine";  // "cosine" (to 0 over total_steps) or "constant"
  double base_lr = 0.1;
  int64_t total_steps = 1;

  double at(int64_t step) const;
};

}  // namespace advmoe
