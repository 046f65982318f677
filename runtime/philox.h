// Philox-4x32-10 counter-based random numbers (Salmon et al., SC'11, "Random123").
// A draw is a pure function of (key, counter), so the CPU and CUDA backends produce the same
// numbers for the same seed without sharing state; this header is plain C++ usable from .cu files.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ADVMOE_HOST_DEVICE __host__ __device__
#else
#define ADVMOE_HOST_DEVICE
#endif

namespace advmoe {

struct Philox4x32 {
  uint32_t v[4];
};

ADVMOE_HOST_DEVICE inline void philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
}

// Ten rounds of the Philox-4x32 bijection of `counter` under `key`.
ADVMOE_HOST_DEVICE inline Philox4x32 philox4x32_10(Philox4x32 counter, uint32_t key0,
                                                   uint32_t key1) {
  const uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  const uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kMul0, counter.v[0], &hi0, &lo0);
    philox_mulhilo(kMul1, counter.v[2], &hi1, &lo1);
    counter = Philox4x32{{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

}  // namespace advmoe
