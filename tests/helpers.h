// Small helpers shared by the test suites: error measures and random tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace advmoe::testing {

// max |a - b| / max(max |b|, floor): a norm-wise relative error that does not blow up on
// elements that happen to be near zero.
inline double max_relative_error(const Tensor& a, const Tensor& b, double floor = 1e-12) {
  double diff = 0, scale = floor;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(a.item(i) - b.item(i)));
    scale = std::max(scale, std::abs(b.item(i)));
  }
  return diff / scale;
}

// ||a - b||_2 / max(||a||_2, ||b||_2, floor): the usual gradient-check measure.
inline double l2_relative_error(const Tensor& a, const Tensor& b, double floor = 1e-12) {
  double diff = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff += (a.item(i) - b.item(i)) * (a.item(i) - b.item(i));
    na += a.item(i) * a.item(i);
    nb += b.item(i) * b.item(i);
  }
  return std::sqrt(diff) / std::max({std::sqrt(na), std::sqrt(nb), floor});
}

inline Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double low = -1,
                            double high = 1) {
  Tensor t = Tensor::zeros(shape, dtype);
  RandomStream(seed, 77).fill_uniform(t, low, high);
  return t;
}

}  // namespace advmoe::testing
