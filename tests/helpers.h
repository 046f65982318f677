// Small helpers shared by the test suites: error measures and random tensors.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "runtime/error.h"
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

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double low = -1,
                            double high = 1) {
  Tensor t = Tensor::zeros(shape, dtype);
  RandomStream(seed, 77).fill_uniform(t, low, high);
  return t;
}

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("advmoe_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// The message of the advmoe::Error that `f` throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Same shape and the same bytes (bit-for-bit reproducibility).
inline bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

}  // namespace advmoe::testing
