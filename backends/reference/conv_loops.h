// Reference convolution loops (NHWC input, OHWI weight, double accumulation), shared by the
// conv2d and expert_conv reference kernels.
#pragma once

#include <algorithm>
#include <vector>

#include "ops/geometry.h"

namespace advmoe {

// The ReLU the eval-mode fusion (compile/eval_fusion.h) folds into a conv's forward, over its
// `count` outputs.
template <typename T>
void relu_in_place(T* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = y[i] > T(0) ? y[i] : T(0);
}

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

}  // namespace advmoe
