// Square's random search: stripe start, one window per query, keep what lowers the margin.
#include "training/attacks/square.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/philox.h"

namespace advmoe {

double square_fraction(int query, int budget, double p_init) {
  const int it = static_cast<int>(static_cast<double>(query) / budget * 10000);
  const int marks[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
  double p = p_init;
  for (int mark : marks)
    if (it > mark) p /= 2;
  return p;
}

SquareAttack::SquareAttack(AttackModel& model, SquareConfig config)
    : model_(model), config_(config) {
  ADVMOE_CHECK(
      config.epsilon >= 0 && config.queries >= 1 && config.p_init > 0 && config.p_init <= 1,
      "Square needs epsilon >= 0, at least one query and p_init in (0, 1]; got epsilon "
          << config.epsilon << ", " << config.queries << " queries, p_init " << config.p_init);
  ADVMOE_CHECK(
      model.model().images.shape().rank() == 4,
      "Square attacks images [B, H, W, C]; the model reads " << model.model().images.shape());
}

void SquareAttack::run(const AttackBatch& batch, AttackOutcome& outcome) {
  const Shape shape = batch.images.shape();  // [B, H, W, C]
  const int64_t b = shape[0], h = shape[1], w = shape[2], c = shape[3], per = h * w * c;
  const int64_t k = model_.classes();
  const double eps = config_.epsilon;
  const float* x0 = batch.images.data<float>();
  const int32_t* labels = batch.labels.data<int32_t>();
  const uint64_t stream = 0x5C0A000000ull + batch.key;
  auto clip = [&](double v, int64_t j) {
    return static_cast<float>(std::clamp(std::clamp(v, x0[j] - eps, x0[j] + eps), 0.0, 1.0));
  };
  auto sign_of = [&](uint64_t index) {
    return philox_uniform_f64(config_.seed, stream, index) < 0.5 ? -1.0 : 1.0;
  };
  // Start: one sign per (sample, column, channel), the same down each column.
  Tensor best = batch.images.clone();
  float* xb = best.data<float>();
  for (int64_t s = 0; s < b; ++s)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t ch = 0; ch < c; ++ch) {
        const double sign = sign_of(static_cast<uint64_t>((s * w + x) * c + ch));
        for (int64_t y = 0; y < h; ++y) {
          const int64_t j = s * per + (y * w + x) * c + ch;
          xb[j] = clip(x0[j] + eps * sign, j);
        }
      }
  std::vector<double> margin(static_cast<size_t>(b));
  auto margins_of = [&](const Tensor& images, std::vector<double>& out) {
    model_.set_images(images);
    const float* z = model_.forward().data<float>();
    for (int64_t s = 0; s < b; ++s)
      out[static_cast<size_t>(s)] = classification_margin(z + s * k, k, labels[s]);
  };
  margins_of(best, margin);
  auto open_rows = [&] {
    int64_t open = 0;
    for (int64_t s = 0; s < batch.rows; ++s) open += margin[static_cast<size_t>(s)] > 0;
    return open;
  };
  Tensor candidate = best.clone();
  float* xc = candidate.data<float>();
  std::vector<double> candidate_margin(static_cast<size_t>(b));
  // Draws of the queries start after the stripes' b * w * c.
  uint64_t draw = static_cast<uint64_t>(b * w * c);
  queries_used_ = 0;
  for (int q = 0; q < config_.queries && (open_rows() > 0 || !config_.stop_early);
       ++q, ++queries_used_) {
    const double p = square_fraction(q, config_.queries, config_.p_init);
    const int64_t side = std::max<int64_t>(
        static_cast<int64_t>(std::lround(std::sqrt(p * per / static_cast<double>(c)))), 1);
    // One window and one sign per channel for the whole batch, as AutoAttack draws them.
    const int64_t top =
        static_cast<int64_t>((h - side) * philox_uniform_f64(config_.seed, stream, draw));
    const int64_t left =
        static_cast<int64_t>((w - side) * philox_uniform_f64(config_.seed, stream, draw + 1));
    std::vector<double> signs(static_cast<size_t>(c));
    for (int64_t ch = 0; ch < c; ++ch) signs[static_cast<size_t>(ch)] = sign_of(draw + 2 + ch);
    draw += static_cast<uint64_t>(2 + c);
    std::memcpy(xc, xb, best.bytes());
    for (int64_t s = 0; s < batch.rows; ++s) {
      if (margin[static_cast<size_t>(s)] <= 0) continue;
      for (int64_t y = top; y < std::min(top + side, h); ++y)
        for (int64_t x = left; x < std::min(left + side, w); ++x)
          for (int64_t ch = 0; ch < c; ++ch) {
            const int64_t j = s * per + (y * w + x) * c + ch;
            xc[j] = clip(xb[j] + 2 * eps * signs[static_cast<size_t>(ch)], j);
          }
    }
    margins_of(candidate, candidate_margin);
    for (int64_t s = 0; s < batch.rows; ++s) {
      const size_t r = static_cast<size_t>(s);
      if (margin[r] <= 0 || candidate_margin[r] >= margin[r]) continue;
      margin[r] = candidate_margin[r];
      std::memcpy(xb + s * per, xc + s * per, sizeof(float) * static_cast<size_t>(per));
    }
  }
  outcome.adversarial = best;
  outcome.fooled.assign(static_cast<size_t>(b), 0);
  for (int64_t s = 0; s < batch.rows; ++s)
    outcome.fooled[static_cast<size_t>(s)] = margin[static_cast<size_t>(s)] <= 0;
}

}  // namespace advmoe
