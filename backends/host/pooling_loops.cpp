// Max-pool backward and global average pooling loops (see pooling_loops.h).
#include "backends/host/pooling_loops.h"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "backends/host/dispatch.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

// Parallel over samples: windows of different samples never write the same dx element. Within
// a sample, channels are innermost (contiguous in NHWC) and each channel's running maximum and
// its position live in per-thread scratch arrays allocated at compile time.
// Each thread's slot is padded by a cache line, so no two threads ever write the same line
// (false sharing made the loop up to 3x slower at two threads whenever the heap happened to
// place a slot boundary mid-line, e.g. SmallCNN's 32 channels).
template <typename T>
struct ArgmaxScratch {
  explicit ArgmaxScratch(int64_t channels, int threads)
      : best(static_cast<size_t>(best_stride(channels) * threads)),
        at(static_cast<size_t>(at_stride(channels) * threads)) {}
  static int64_t best_stride(int64_t c) { return c + 64 / static_cast<int64_t>(sizeof(T)); }
  static int64_t at_stride(int64_t c) { return c + 64 / static_cast<int64_t>(sizeof(int64_t)); }
  std::vector<T> best;
  std::vector<int64_t> at;
};

template <typename T>
void max_pool_backward(const PoolGeometry& g, bool parallel, const T* dy, const T* x, T* dx,
                       ArgmaxScratch<T>& scratch) {
  const int64_t plane = g.h * g.w * g.c;
#pragma omp parallel for if (parallel)
  for (int64_t n = 0; n < g.n; ++n) {
    const int64_t thread = omp_get_thread_num();
    // __restrict: the scratch arrays never alias x, which lets the compiler vectorize the scan.
    T* __restrict best = scratch.best.data() + thread * ArgmaxScratch<T>::best_stride(g.c);
    int64_t* __restrict best_at = scratch.at.data() + thread * ArgmaxScratch<T>::at_stride(g.c);
    std::fill(dx + n * plane, dx + (n + 1) * plane, T(0));
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        std::fill(best, best + g.c, -std::numeric_limits<T>::infinity());
        for (int64_t i = 0; i < g.k; ++i)
          for (int64_t j = 0; j < g.k; ++j) {
            int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
            const int64_t at = ((n * g.h + ih) * g.w + iw) * g.c;
            const T* __restrict xp = x + at;
#pragma omp simd
            for (int64_t c = 0; c < g.c; ++c) {  // strict '>' keeps the first maximum
              bool better = xp[c] > best[c];
              best[c] = better ? xp[c] : best[c];
              best_at[c] = better ? at + c : best_at[c];
            }
          }
        const T* dyp = dy + ((n * g.ho + oh) * g.wo + ow) * g.c;
        for (int64_t c = 0; c < g.c; ++c) dx[best_at[c]] += dyp[c];
      }
  }
}

// Channels innermost so every pass reads contiguous memory.
template <typename T>
void global_avg_pool(int64_t n, int64_t hw, int64_t c, bool forward, bool parallel, const T* in,
                     T* out) {
  const T inv = static_cast<T>(1.0 / static_cast<double>(hw));
#pragma omp parallel for if (parallel)
  for (int64_t b = 0; b < n; ++b) {
    if (forward) {
      T* o = out + b * c;
      std::fill(o, o + c, T(0));
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t k = 0; k < c; ++k) o[k] += in[(b * hw + p) * c + k];
      for (int64_t k = 0; k < c; ++k) o[k] *= inv;
    } else {
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t k = 0; k < c; ++k) out[(b * hw + p) * c + k] = in[b * c + k] * inv;
    }
  }
}

}  // namespace

std::unique_ptr<Kernel> make_max_pool_backward_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    PoolGeometry g = PoolGeometry::make(a.inputs[1].shape(), std::get<PoolAttrs>(a.node.attrs));
    const T *dy = a.inputs[0].data<T>(), *x = a.inputs[1].data<T>();
    T* dx = a.outputs[0].data<T>();
    auto scratch = std::make_shared<ArgmaxScratch<T>>(g.c, parallel ? omp_get_max_threads() : 1);
    return loop_kernel([=] { max_pool_backward(g, parallel, dy, x, dx, *scratch); });
  });
}

std::unique_ptr<Kernel> make_global_avg_pool_kernel(const KernelArgs& a, bool forward,
                                                    bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const Shape& x = forward ? a.inputs[0].shape() : a.outputs[0].shape();
    int64_t n = x[0], hw = x[1] * x[2], c = x[3];
    const T* in = a.inputs[0].data<T>();
    T* out = a.outputs[0].data<T>();
    return loop_kernel([=] { global_avg_pool(n, hw, c, forward, parallel, in, out); });
  });
}

}  // namespace advmoe
