// Aligned host allocation with a clear error on failure.
#include "runtime/allocator.h"

#include <cstdlib>
#include <cstring>

#include "runtime/error.h"

namespace advmoe {

void* host_allocate(size_t bytes) {
  size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  if (rounded == 0) rounded = kHostAlignment;
  void* ptr = std::aligned_alloc(kHostAlignment, rounded);
  ADVMOE_CHECK(ptr != nullptr, "out of host memory allocating " << bytes << " bytes");
  std::memset(ptr, 0, rounded);
  return ptr;
}

void host_free(void* ptr) {
  std::free(ptr);
}

}  // namespace advmoe
