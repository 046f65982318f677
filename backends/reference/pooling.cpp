// Reference pooling kernels (NHWC). Max pooling ignores padded positions; average pooling counts
// them (PyTorch's count_include_pad=True). Max-pool backward routes each output's gradient to the
// first maximum of its window; the oneDNN backend reuses this loop (backends/cpu/pooling.cpp).
#include <limits>

#include "backends/host/dispatch.h"
#include "backends/host/pooling_loops.h"
#include "backends/reference/reference_kernels.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

template <typename T>
void max_pool_forward(const PoolGeometry& g, const T* x, T* y) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow)
        for (int64_t c = 0; c < g.c; ++c) {
          T best = -std::numeric_limits<T>::infinity();
          for (int64_t i = 0; i < g.k; ++i)
            for (int64_t j = 0; j < g.k; ++j) {
              int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              T v = x[((n * g.h + ih) * g.w + iw) * g.c + c];
              if (v > best) best = v;
            }
          y[((n * g.ho + oh) * g.wo + ow) * g.c + c] = best;
        }
}

// Average pooling forward and backward share the window walk; `forward` picks the direction.
template <typename T>
void avg_pool(const PoolGeometry& g, bool forward, const T* in, T* out) {
  double inv = 1.0 / static_cast<double>(g.k * g.k);
  if (!forward)
    for (int64_t i = 0; i < g.n * g.h * g.w * g.c; ++i) out[i] = 0;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow)
        for (int64_t c = 0; c < g.c; ++c) {
          int64_t y_at = ((n * g.ho + oh) * g.wo + ow) * g.c + c;
          double acc = 0;
          for (int64_t i = 0; i < g.k; ++i)
            for (int64_t j = 0; j < g.k; ++j) {
              int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              int64_t x_at = ((n * g.h + ih) * g.w + iw) * g.c + c;
              if (forward)
                acc += in[x_at];
              else
                out[x_at] = static_cast<T>(out[x_at] + in[y_at] * inv);
            }
          if (forward) out[y_at] = static_cast<T>(acc * inv);
        }
}

}  // namespace

void add_reference_pooling(KernelTable& t) {
  put(t, Op::MaxPool, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      PoolGeometry g = PoolGeometry::make(a.inputs[0].shape(), std::get<PoolAttrs>(a.node.attrs));
      const T* x = a.inputs[0].data<T>();
      T* y = a.outputs[0].data<T>();
      return loop_kernel([=] { max_pool_forward(g, x, y); });
    });
  });
  put(t, Op::MaxPoolBackward,
      [](const KernelArgs& a) { return make_max_pool_backward_kernel(a, /*parallel=*/false); });
  for (Op op : {Op::AvgPool, Op::AvgPoolBackward})
    put(t, op, [op](const KernelArgs& a) {
      return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        bool forward = op == Op::AvgPool;
        PoolGeometry g = PoolGeometry::make(forward ? a.inputs[0].shape() : a.outputs[0].shape(),
                                            std::get<PoolAttrs>(a.node.attrs));
        const T* in = a.inputs[0].data<T>();
        T* out = a.outputs[0].data<T>();
        return loop_kernel([=] { avg_pool(g, forward, in, out); });
      });
    });
  put(t, Op::GlobalAvgPool, [](const KernelArgs& a) {
    return make_global_avg_pool_kernel(a, /*forward=*/true, /*parallel=*/false);
  });
  put(t, Op::GlobalAvgPoolBackward, [](const KernelArgs& a) {
    return make_global_avg_pool_kernel(a, /*forward=*/false, /*parallel=*/false);
  });
}

}  // namespace advmoe
