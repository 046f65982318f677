// 64-byte aligned host memory: the alignment AVX-512 loads and oneDNN prefer.
#pragma once

#include <cstddef>

namespace advmoe {

constexpr size_t kHostAlignment = 64;

// Returns zero-initialised memory; throws advmoe::Error (naming the size) when out of memory.
void* host_allocate(size_t bytes);
void host_free(void* ptr);

}  // namespace advmoe
