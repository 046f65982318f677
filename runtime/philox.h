// Philox-4x32-10 counter-based random numbers (Salmon et al., SC'11, "Random123").
// A draw is a pure function of (key, counter), so the CPU and CUDA backends produce the same
// numbers for the same seed without sharing state; this header is plain C++ usable from .cu files.
#pragma once

#include <cmath>
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

// Word `index` of stream (seed, subsequence): counter = (block lo, hi, subsequence lo, hi) with
// block = index / 4, key = seed; each block gives four words. RandomStream (rng.h) and device
// kernels draw through these functions, so both see the same numbers.
ADVMOE_HOST_DEVICE inline uint32_t philox_word(uint64_t seed, uint64_t subsequence,
                                               uint64_t index) {
  uint64_t block = index / 4;
  Philox4x32 counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                      static_cast<uint32_t>(subsequence),
                      static_cast<uint32_t>(subsequence >> 32)}};
  Philox4x32 out =
      philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return out.v[index % 4];
}

// In [0, 1) from 24 random bits.
ADVMOE_HOST_DEVICE inline float philox_uniform(uint64_t seed, uint64_t subsequence,
                                               uint64_t index) {
  return static_cast<float>(philox_word(seed, subsequence, index) >> 8) * (1.0f / 16777216.0f);
}

// In [0, 1) from 53 random bits (words 2i and 2i + 1).
ADVMOE_HOST_DEVICE inline double philox_uniform_f64(uint64_t seed, uint64_t subsequence,
                                                    uint64_t index) {
  uint64_t hi = philox_word(seed, subsequence, 2 * index) >> 5,
           lo = philox_word(seed, subsequence, 2 * index + 1) >> 6;  // 27 + 26 = 53 bits
  return static_cast<double>((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

// N(0, 1) by Box-Muller on uniform pairs; 1 - u keeps the log argument in (0, 1].
ADVMOE_HOST_DEVICE inline double philox_normal(uint64_t seed, uint64_t subsequence,
                                               uint64_t index) {
  double u1 = 1.0 - philox_uniform_f64(seed, subsequence, 2 * index),
         u2 = philox_uniform_f64(seed, subsequence, 2 * index + 1);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

}  // namespace advmoe
