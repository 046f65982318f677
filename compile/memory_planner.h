// Memory planner: places the intermediate buffers of a Plan in one arena so that buffers whose
// lifetimes (first to last node that touches them) do not overlap may share bytes.
#pragma once

#include <cstddef>
#include <vector>

namespace advmoe {

struct BufferRequest {
  size_t bytes;
  int first_use;  // index of the node that writes it
  int last_use;   // index of the last node that reads it (>= first_use)
};

struct MemoryLayout {
  std::vector<size_t> offsets;  // one per request, 64-byte aligned
  size_t arena_bytes = 0;       // peak: the arena size needed
  size_t total_bytes = 0;       // what separate allocations would need
};

// Greedy: largest buffers first, each at the lowest offset that does not collide with an
// already placed buffer alive at the same time.
MemoryLayout plan_memory(const std::vector<BufferRequest>& requests);

}  // namespace advmoe
