// Max-pool backward and global average pooling loops (see pooling_loops.h).
#include "ops/reference/pooling_loops.h"

#include "ops/geometry.h"
#include "ops/reference/dispatch.h"

namespace advmoe {

namespace {

template <typename T>
void max_pool_backward(const PoolGeometry& g, bool parallel, const T* dy, const T* x, T* dx) {
  // Parallel over (n, c) planes: windows of different planes never write the same dx element.
#pragma omp parallel for collapse(2) if (parallel)
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.c; ++c) {
      for (int64_t p = 0; p < g.h * g.w; ++p) dx[(n * g.h * g.w + p) * g.c + c] = 0;
      for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          int64_t best_at = -1;
          T best = 0;
          for (int64_t i = 0; i < g.k; ++i)
            for (int64_t j = 0; j < g.k; ++j) {
              int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              int64_t at = ((n * g.h + ih) * g.w + iw) * g.c + c;
              if (best_at < 0 || x[at] > best) {
                best = x[at];
                best_at = at;
              }
            }
          dx[best_at] += dy[((n * g.ho + oh) * g.wo + ow) * g.c + c];
        }
    }
}

template <typename T>
void global_avg_pool(int64_t n, int64_t hw, int64_t c, bool forward, bool parallel, const T* in,
                     T* out) {
  double inv = 1.0 / static_cast<double>(hw);
#pragma omp parallel for if (parallel)
  for (int64_t b = 0; b < n; ++b) {
    if (forward) {
      for (int64_t k = 0; k < c; ++k) {
        double acc = 0;
        for (int64_t p = 0; p < hw; ++p) acc += in[(b * hw + p) * c + k];
        out[b * c + k] = static_cast<T>(acc * inv);
      }
    } else {
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t k = 0; k < c; ++k)
          out[(b * hw + p) * c + k] = static_cast<T>(in[b * c + k] * inv);
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
    return loop_kernel([=] { max_pool_backward(g, parallel, dy, x, dx); });
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
