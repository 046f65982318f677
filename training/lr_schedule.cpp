// Cosine annealing as PyTorch's CosineAnnealingLR with eta_min = 0, stepped per iteration.
#include "training/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace advmoe {

ScheduleKind parse_schedule(const std::string& text) {
  if (text == "cosine") return ScheduleKind::Cosine;
  if (text == "constant") return ScheduleKind::Constant;
  throw Error("unknown lr schedule '" + text + "' (expected cosine or constant)");
}

double LrSchedule::at(int64_t step) const {
  if (kind == ScheduleKind::Constant) return base_lr;
  double t = std::min<double>(1.0, static_cast<double>(step) / std::max<int64_t>(1, total_steps));
  return 0.5 * base_lr * (1.0 + std::cos(M_PI * t));
}

}  // namespace advmoe
