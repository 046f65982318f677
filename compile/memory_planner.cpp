// Greedy best-offset placement of buffers by lifetime.
#include "compile/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace advmoe {

namespace {
constexpr size_t kAlign = 64;
size_t align_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

MemoryLayout plan_memory(const std::vector<BufferRequest>& requests) {
  MemoryLayout layout;
  layout.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  std::vector<size_t> placed;
  for (size_t i : order) {
    const BufferRequest& r = requests[i];
    size_t size = align_up(r.bytes);
    layout.total_bytes += size;
    // Intervals [offset, offset + size) of placed buffers alive together with r, by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t j : placed) {
      const BufferRequest& o = requests[j];
      if (o.first_use <= r.last_use && r.first_use <= o.last_use)
        busy.emplace_back(layout.offsets[j], layout.offsets[j] + align_up(o.bytes));
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [start, end] : busy) {
      if (offset + size <= start) break;
      offset = std::max(offset, end);
    }
    layout.offsets[i] = offset;
    layout.arena_bytes = std::max(layout.arena_bytes, offset + size);
    placed.push_back(i);
  }
  return layout;
}

}  // namespace advmoe
