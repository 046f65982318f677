// Reference conv2d kernels: direct loops in NHWC/OHWI with double accumulation. They are the
// oracle the oneDNN kernels are tested against, and they run f64 for gradient checks.
#include <algorithm>
#include <memory>
#include <vector>

#include "ops/geometry.h"
#include "ops/reference/dispatch.h"
#include "ops/reference/reference_kernels.h"

namespace advmoe {

namespace {

template <typename T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow)
        for (int64_t o = 0; o < g.o; ++o) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              const T* xp = x + ((n * g.h + ih) * g.w + iw) * g.c;
              const T* wp = w + ((o * g.kh + i) * g.kw + j) * g.c;
              for (int64_t c = 0; c < g.c; ++c) acc += static_cast<double>(xp[c]) * wp[c];
            }
          y[((n * g.ho + oh) * g.wo + ow) * g.o + o] = static_cast<T>(acc);
        }
}

// Visits every (input pixel, weight tap, output pixel) triple once; backward_data and
// backward_weights differ only in what they accumulate.
template <typename Visit>
void for_each_tap(const ConvGeometry& g, Visit visit) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow)
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
            visit(((n * g.h + ih) * g.w + iw) * g.c, (i * g.kw + j) * g.c,
                  ((n * g.ho + oh) * g.wo + ow) * g.o);
          }
}

template <typename T>
void conv_backward_data(const ConvGeometry& g, const T* dy, const T* w, T* dx,
                        std::vector<double>& acc) {
  std::fill(acc.begin(), acc.end(), 0.0);
  for_each_tap(g, [&](int64_t x_at, int64_t tap, int64_t y_at) {
    for (int64_t o = 0; o < g.o; ++o) {
      double d = dy[y_at + o];
      const T* wp = w + o * g.kh * g.kw * g.c + tap;
      for (int64_t c = 0; c < g.c; ++c) acc[static_cast<size_t>(x_at + c)] += d * wp[c];
    }
  });
  for (size_t i = 0; i < acc.size(); ++i) dx[i] = static_cast<T>(acc[i]);
}

template <typename T>
void conv_backward_weights(const ConvGeometry& g, const T* dy, const T* x, T* dw,
                           std::vector<double>& acc) {
  std::fill(acc.begin(), acc.end(), 0.0);
  for_each_tap(g, [&](int64_t x_at, int64_t tap, int64_t y_at) {
    for (int64_t o = 0; o < g.o; ++o) {
      double d = dy[y_at + o];
      double* ap = acc.data() + o * g.kh * g.kw * g.c + tap;
      for (int64_t c = 0; c < g.c; ++c) ap[c] += d * x[x_at + c];
    }
  });
  for (size_t i = 0; i < acc.size(); ++i) dw[i] = static_cast<T>(acc[i]);
}

template <typename T>
void channel_sum(int64_t rows, int64_t c, const T* x, T* out) {
  for (int64_t k = 0; k < c; ++k) {
    double acc = 0;
    for (int64_t r = 0; r < rows; ++r) acc += x[r * c + k];
    out[k] = static_cast<T>(acc);
  }
}

}  // namespace

void register_reference_conv(KernelRegistry& r) {
  r.add("reference", Op::Conv2d, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      ConvGeometry g = ConvGeometry::make(a.inputs[0].shape(), a.inputs[1].shape(),
                                          std::get<ConvAttrs>(a.node.attrs));
      const T *x = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
      const T* b = a.inputs.size() == 3 ? a.inputs[2].data<T>() : nullptr;
      T* y = a.outputs[0].data<T>();
      return loop_kernel([=] { conv_forward(g, x, w, b, y); });
    });
  });
  r.add("reference", Op::Conv2dBackwardData, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      ConvGeometry g = ConvGeometry::make(a.outputs[0].shape(), a.inputs[1].shape(),
                                          std::get<ConvAttrs>(a.node.attrs));
      const T *dy = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
      T* dx = a.outputs[0].data<T>();
      // Double accumulators, allocated here so that running the kernel allocates nothing.
      auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(a.outputs[0].numel()));
      return loop_kernel([=] { conv_backward_data(g, dy, w, dx, *acc); });
    });
  });
  r.add("reference", Op::Conv2dBackwardWeights, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      ConvGeometry g = ConvGeometry::make(a.inputs[1].shape(), a.outputs[0].shape(),
                                          std::get<ConvAttrs>(a.node.attrs));
      const T *dy = a.inputs[0].data<T>(), *x = a.inputs[1].data<T>();
      T* dw = a.outputs[0].data<T>();
      auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(a.outputs[0].numel()));
      return loop_kernel([=] { conv_backward_weights(g, dy, x, dw, *acc); });
    });
  });
  r.add("reference", Op::ChannelSum, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t c = a.outputs[0].numel(), rows = a.inputs[0].numel() / c;
      const T* x = a.inputs[0].data<T>();
      T* out = a.outputs[0].data<T>();
      return loop_kernel([=] { channel_sum(rows, c, x, out); });
    });
  });
}

}  // namespace advmoe
