// Uniform, normal and Bernoulli draws from Philox streams.
#include "runtime/rng.h"

#include <cmath>

#include "runtime/philox.h"

namespace advmoe {

uint32_t RandomStream::word(uint64_t index) const {
  return philox_word(seed_, subsequence_, index);
}

float RandomStream::uniform(uint64_t index) const {
  return philox_uniform(seed_, subsequence_, index);
}

double RandomStream::uniform_f64(uint64_t index) const {
  return philox_uniform_f64(seed_, subsequence_, index);
}

double RandomStream::normal(uint64_t index) const {
  return philox_normal(seed_, subsequence_, index);
}

namespace {
template <typename Draw>
void fill_with(Tensor& t, Draw draw) {
  ADVMOE_CHECK(is_floating(t.dtype()), "random fill needs a float tensor, got " << t.describe());
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = draw(static_cast<uint64_t>(i));
    if (t.dtype() == DType::F32)
      t.data<float>()[i] = static_cast<float>(v);
    else
      t.data<double>()[i] = v;
  }
}
}  // namespace

void RandomStream::fill_uniform(Tensor& t, double low, double high, uint64_t offset) const {
  fill_with(t, [&](uint64_t i) { return low + (high - low) * uniform_f64(offset + i); });
}

void RandomStream::fill_normal(Tensor& t, double mean, double stddev, uint64_t offset) const {
  fill_with(t, [&](uint64_t i) { return mean + stddev * normal(offset + i); });
}

void RandomStream::fill_bernoulli(Tensor& t, double p, uint64_t offset) const {
  fill_with(t, [&](uint64_t i) { return uniform_f64(offset + i) < p ? 1.0 : 0.0; });
}

uint64_t stable_hash(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace advmoe
