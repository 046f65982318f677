// Sizes of conv and pooling problems, derived once from shapes and attributes and shared by the
// reference and oneDNN kernels so both read the same numbers.
#pragma once

#include <cstdint>

#include "ops/attrs.h"

namespace advmoe {

struct ConvGeometry {
  int64_t n, h, w, c;  // input [N, H, W, C]
  int64_t o, kh, kw;   // weight [O, kh, kw, C]
  int64_t ho, wo;      // output [N, Ho, Wo, O]
  int64_t stride, pad;

  static ConvGeometry make(const Shape& x, const Shape& w, const ConvAttrs& a) {
    ConvGeometry g{x[0], x[1], x[2], x[3], w[0], w[1], w[2], 0, 0, a.stride, a.padding};
    g.ho = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
    g.wo = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
    return g;
  }
};

struct PoolGeometry {
  int64_t n, h, w, c;  // input [N, H, W, C]
  int64_t ho, wo;      // output [N, Ho, Wo, C]
  int64_t k, stride, pad;

  static PoolGeometry make(const Shape& x, const PoolAttrs& a) {
    PoolGeometry g{x[0], x[1], x[2], x[3], 0, 0, a.kernel, a.stride, a.padding};
    g.ho = (g.h + 2 * g.pad - g.k) / g.stride + 1;
    g.wo = (g.w + 2 * g.pad - g.k) / g.stride + 1;
    return g;
  }
};

}  // namespace advmoe
