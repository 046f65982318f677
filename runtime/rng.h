// Random streams built on Philox: stream (seed, subsequence) is an endless array of 32-bit words;
// element i of a fill uses word i (or words 2i, 2i+1 for normals), so any backend that evaluates
// the same formula per element draws exactly the same numbers.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/tensor.h"

namespace advmoe {

class RandomStream {
 public:
  // `subsequence` separates independent streams under one seed (one per parameter, per epoch...).
  RandomStream(uint64_t seed, uint64_t subsequence) : seed_(seed), subsequence_(subsequence) {}

  uint32_t word(uint64_t index) const;       // the index-th 32-bit word of the stream
  float uniform(uint64_t index) const;       // in [0, 1), 24 random bits
  double uniform_f64(uint64_t index) const;  // in [0, 1), 53 random bits (uses words 2i, 2i+1)
  double normal(uint64_t index) const;       // N(0, 1) by Box-Muller on uniform pairs

  // Fill a host tensor (f32 or f64), element i from draw `offset + i`.
  void fill_uniform(Tensor& t, double low, double high, uint64_t offset = 0) const;
  void fill_normal(Tensor& t, double mean, double stddev, uint64_t offset = 0) const;
  void fill_bernoulli(Tensor& t, double p, uint64_t offset = 0) const;

 private:
  uint64_t seed_;
  uint64_t subsequence_;
};

// Stable 64-bit hash (FNV-1a) of a name: gives each parameter its own subsequence.
uint64_t stable_hash(const std::string& name);

}  // namespace advmoe
