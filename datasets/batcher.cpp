// Shuffled batch assembly.
#include "datasets/batcher.h"

#include <cstring>
#include <numeric>

#include "runtime/error.h"
#include "runtime/rng.h"

namespace advmoe {

std::vector<int64_t> epoch_order(uint64_t seed, int64_t epoch, int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  // Subsequence tag keeps data order independent of parameter-init streams.
  RandomStream stream(seed, 0x5EED0000ull + static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(stream.uniform_f64(static_cast<uint64_t>(i)) * (i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(std::min(j, i))]);
  }
  return order;
}

int64_t gather_batch(const Dataset& data, const std::vector<int64_t>& order, int64_t first,
                     Tensor& images, Tensor& labels) {
  int64_t batch = images.shape()[0];
  ADVMOE_CHECK(labels.numel() == batch, "gather_batch: labels " << labels.describe()
                                                                << " do not match images "
                                                                << images.describe());
  size_t image_bytes = static_cast<size_t>(images.numel() / batch) * sizeof(float);
  ADVMOE_CHECK(
      image_bytes == static_cast<size_t>(data.images.numel() / std::max<int64_t>(data.size(), 1)) *
                         sizeof(float),
      "gather_batch: batch images " << images.describe() << " do not match dataset " << data.name
                                    << " " << data.images.describe());
  int64_t real =
      std::max<int64_t>(0, std::min<int64_t>(batch, static_cast<int64_t>(order.size()) - first));
  const char* src = static_cast<const char*>(data.images.raw());
  char* dst = static_cast<char*>(images.raw());
  int32_t* lab = labels.data<int32_t>();
  for (int64_t b = 0; b < batch; ++b) {
    if (b < real) {
      int64_t idx = order[static_cast<size_t>(first + b)];
      std::memcpy(dst + b * image_bytes, src + idx * image_bytes, image_bytes);
      lab[b] = data.labels[static_cast<size_t>(idx)];
    } else {
      std::memset(dst + b * image_bytes, 0, image_bytes);
      lab[b] = 0;
    }
  }
  return real;
}

}  // namespace advmoe
