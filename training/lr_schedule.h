// Learning-rate schedules, evaluated per optimizer step.
#pragma once

#include <cstdint>
#include <string>

namespace advmoe {

enum class ScheduleKind { Cosine, Constant };

// "cosine" | "constant" (throws naming the accepted values).
ScheduleKind parse_schedule(const std::string& text);

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::Cosine;  // cosine: to 0 over total_steps
  double base_lr = 0.1;
  int64_t total_steps = 1;

  double at(int64_t step) const;
};

}  // namespace advmoe
