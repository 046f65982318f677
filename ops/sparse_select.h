// The host form of topk_mask (ops/sparse.h), shared by the CPU kernels and by the code that
// writes masks into checkpoints and exports compact models, so all of them keep the same items.
// Importances are doubles (|score|, or a filter's sum of |score| in index order); the CUDA kernel
// sums the same way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "ops/sparse.h"

namespace advmoe {

// Indices of the k largest importances, ties to the lower index. NaN ranks lowest (a NaN score
// would otherwise break the ordering; the training loop stops on the NaN loss it causes).
inline std::vector<int64_t> top_items(const std::vector<double>& importance, int64_t k) {
  std::vector<int64_t> order(importance.size());
  std::iota(order.begin(), order.end(), 0);
  auto value = [&](int64_t i) {
    double v = importance[static_cast<size_t>(i)];
    return std::isnan(v) ? -1.0 : v;
  };
  auto before = [&](int64_t a, int64_t b) {
    return value(a) > value(b) || (value(a) == value(b) && a < b);
  };
  std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), before);
  order.resize(static_cast<size_t>(k));
  return order;
}

// scores [filters, row] -> mask [filters, row] and filter_mask [filters], both 0/1.
template <typename T>
void topk_mask_host(const T* scores, int64_t filters, int64_t row, double keep, bool structured,
                    T* mask, T* filter_mask) {
  const int64_t total = filters * row, items = structured ? filters : total;
  std::vector<double> importance(static_cast<size_t>(items));
  for (int64_t i = 0; i < items; ++i) {
    if (!structured) {
      importance[static_cast<size_t>(i)] = std::fabs(static_cast<double>(scores[i]));
      continue;
    }
    double l1 = 0;
    for (int64_t j = 0; j < row; ++j) l1 += std::fabs(static_cast<double>(scores[i * row + j]));
    importance[static_cast<size_t>(i)] = l1;
  }
  std::fill(mask, mask + total, T(0));
  std::fill(filter_mask, filter_mask + filters, T(0));
  for (int64_t i : top_items(importance, kept_items(keep, items))) {
    if (structured)
      std::fill(mask + i * row, mask + (i + 1) * row, T(1));
    else
      mask[i] = T(1);
    filter_mask[structured ? i : i / row] = T(1);
  }
}

}  // namespace advmoe
