// Cosine annealing as PyTorch's CosineAnnealingLR with eta_min = 0, stepped per iteration.
#include "training/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace advmoe {

double LrSchedule::at(int64_t step) const {
  if (kind == "constant") return base_lr;
  ADVMOE_CHECK(kind == "cosine",
               "unknown lr schedule '" << kind << "' (expected cosine or constant)");
  double t = std::min<double>(1.0, static_cast<double>(step) / std::max<int64_t>(1, total_steps));
  return 0.5 * base_lr * (1.0 + std::cos(M_PI * t));
}

}  // namespace advmoe
