// Max and average pooling on CUDA (NHWC), with the exact semantics of
// backends/reference/pooling.cpp: max pooling ignores padded positions and routes each output's
// gradient to the first maximum of its window; average pooling counts padded positions
// (count_include_pad). Backward passes gather per input element over the windows that contain
// it, in the reference's window order: no atomics, deterministic, the same sums as the CPU.
#include <cmath>

#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

// Index into x of the first maximum of output (n, oh, ow, c)'s window, or -1.
template <typename T>
__device__ int64_t window_argmax(const PoolGeometry& g, const T* x, int64_t n, int64_t oh,
                                 int64_t ow, int64_t c) {
  T best = static_cast<T>(-INFINITY);
  int64_t at = -1;
  for (int64_t i = 0; i < g.k; ++i)
    for (int64_t j = 0; j < g.k; ++j) {
      int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
      if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
      int64_t x_at = ((n * g.h + ih) * g.w + iw) * g.c + c;
      if (x[x_at] > best) {
        best = x[x_at];
        at = x_at;
      }
    }
  return at;
}

template <typename T>
__global__ void max_pool_kernel(PoolGeometry g, const T* x, T* y) {
  ADVMOE_GRID_STRIDE(i, g.n * g.ho * g.wo * g.c) {
    int64_t c = i % g.c, ow = i / g.c % g.wo, oh = i / (g.c * g.wo) % g.ho,
            n = i / (g.c * g.wo * g.ho);
    int64_t at = window_argmax(g, x, n, oh, ow, c);
    y[i] = at >= 0 ? x[at] : static_cast<T>(-INFINITY);
  }
}

// The output rows/columns whose windows contain input row `ih`: [first, last].
__device__ void covering(int64_t ih, int64_t k, int64_t stride, int64_t pad, int64_t out,
                         int64_t* first, int64_t* last) {
  int64_t top = ih + pad - k + 1;  // smallest oh * stride reaching ih
  *first = top <= 0 ? 0 : (top + stride - 1) / stride;
  *last = min((ih + pad) / stride, out - 1);
}

template <typename T>
__global__ void max_pool_backward_kernel(PoolGeometry g, const T* dy, const T* x, T* dx) {
  ADVMOE_GRID_STRIDE(i, g.n * g.h * g.w * g.c) {
    int64_t c = i % g.c, iw = i / g.c % g.w, ih = i / (g.c * g.w) % g.h, n = i / (g.c * g.w * g.h);
    int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.k, g.stride, g.pad, g.ho, &oh0, &oh1);
    covering(iw, g.k, g.stride, g.pad, g.wo, &ow0, &ow1);
    T acc = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow)
        if (window_argmax(g, x, n, oh, ow, c) == i)
          acc += dy[((n * g.ho + oh) * g.wo + ow) * g.c + c];
    dx[i] = acc;
  }
}

template <typename T>
__global__ void avg_pool_kernel(PoolGeometry g, const T* x, T* y) {
  const double inv = 1.0 / static_cast<double>(g.k * g.k);
  ADVMOE_GRID_STRIDE(i, g.n * g.ho * g.wo * g.c) {
    int64_t c = i % g.c, ow = i / g.c % g.wo, oh = i / (g.c * g.wo) % g.ho,
            n = i / (g.c * g.wo * g.ho);
    double acc = 0;
    for (int64_t a = 0; a < g.k; ++a)
      for (int64_t b = 0; b < g.k; ++b) {
        int64_t ih = oh * g.stride - g.pad + a, iw = ow * g.stride - g.pad + b;
        if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
        acc += x[((n * g.h + ih) * g.w + iw) * g.c + c];
      }
    y[i] = static_cast<T>(acc * inv);
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(PoolGeometry g, const T* dy, T* dx) {
  const double inv = 1.0 / static_cast<double>(g.k * g.k);
  ADVMOE_GRID_STRIDE(i, g.n * g.h * g.w * g.c) {
    int64_t c = i % g.c, iw = i / g.c % g.w, ih = i / (g.c * g.w) % g.h, n = i / (g.c * g.w * g.h);
    int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.k, g.stride, g.pad, g.ho, &oh0, &oh1);
    covering(iw, g.k, g.stride, g.pad, g.wo, &ow0, &ow1);
    T acc = 0;  // accumulated in T, as the reference does
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow)
        acc = static_cast<T>(acc + dy[((n * g.ho + oh) * g.wo + ow) * g.c + c] * inv);
    dx[i] = acc;
  }
}

}  // namespace

void add_cuda_pooling(KernelTable& t) {
  add_cuda_float(t, Op::MaxPool, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    PoolGeometry g = PoolGeometry::make(a.inputs[0].shape(), std::get<PoolAttrs>(a.node.attrs));
    const T* x = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      max_pool_kernel<<<blocks_for(g.n * g.ho * g.wo * g.c), kThreads, 0, s>>>(g, x, y);
    });
  });
  add_cuda_float(t, Op::MaxPoolBackward, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    PoolGeometry g = PoolGeometry::make(a.inputs[1].shape(), std::get<PoolAttrs>(a.node.attrs));
    const T *dy = a.inputs[0].data<T>(), *x = a.inputs[1].data<T>();
    T* dx = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      max_pool_backward_kernel<<<blocks_for(g.n * g.h * g.w * g.c), kThreads, 0, s>>>(g, dy, x, dx);
    });
  });
  add_cuda_float(t, Op::AvgPool, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    PoolGeometry g = PoolGeometry::make(a.inputs[0].shape(), std::get<PoolAttrs>(a.node.attrs));
    const T* x = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      avg_pool_kernel<<<blocks_for(g.n * g.ho * g.wo * g.c), kThreads, 0, s>>>(g, x, y);
    });
  });
  add_cuda_float(t, Op::AvgPoolBackward, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    PoolGeometry g = PoolGeometry::make(a.outputs[0].shape(), std::get<PoolAttrs>(a.node.attrs));
    const T* dy = a.inputs[0].data<T>();
    T* dx = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      avg_pool_backward_kernel<<<blocks_for(g.n * g.h * g.w * g.c), kThreads, 0, s>>>(g, dy, dx);
    });
  });
}

}  // namespace advmoe
