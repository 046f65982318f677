// Uniform, normal and Bernoulli draws from Philox streams.
#include "runtime/rng.h"

#include <cmath>

#include "runtime/philox.h"

namespace advmoe {

uint32_t RandomStream::word(uint64_t index) const {
  // Counter = (block index lo, hi, subsequence lo, hi); key = seed. Each block gives four words.
  uint64_t block = index / 4;
  Philox4x32 counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                      static_cast<uint32_t>(subsequence_),
                      static_cast<uint32_t>(subsequence_ >> 32)}};
  Philox4x32 out =
      philox4x32_10(counter, static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32));
  return out.v[index % 4];
}

float RandomStream::uniform(uint64_t index) const {
  return static_cast<float>(word(index) >> 8) * (1.0f / 16777216.0f);
}

double RandomStream::uniform_f64(uint64_t index) const {
  uint64_t hi = word(2 * index) >> 5, lo = word(2 * index + 1) >> 6;  // 27 + 26 = 53 bits
  return static_cast<double>((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

double RandomStream::normal(uint64_t index) const {
  // Box-Muller; 1 - u keeps the log argument in (0, 1].
  double u1 = 1.0 - uniform_f64(2 * index), u2 = uniform_f64(2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
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
