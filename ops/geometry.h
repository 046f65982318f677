// Sizes of conv and pooling problems, derived once from shapes and attributes and shared by the
// reference and oneDNN kernels so both read the same numbers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "graph/attrs.h"

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

// An expert_conv problem as the grouped kernels (oneDNN, CUDA) see it: x [N, H, W, C], a weight of
// `experts` slices of `width` output channels, y [N, Ho, Wo, width]; `conv` is one expert's
// convolution (dense mode: all experts * width channels at once), `bucket_rows` the batch sizes
// the kernels prepare convolutions for.
struct ExpertConvGeometry {
  int64_t n, experts, width;
  int64_t x_row, y_row, w_slice;  // elements per sample of x and y, per expert of the weight
  ConvGeometry conv;
  std::vector<int64_t> bucket_rows;

  static ExpertConvGeometry make(const Shape& x, const Shape& w, const ExpertConvAttrs& a) {
    ExpertConvGeometry e{x[0], a.experts, w[0] / a.experts, 0, 0, 0, {}, {}};
    int64_t conv_width = a.dense ? w[0] : e.width;
    e.conv = ConvGeometry::make(x, Shape{conv_width, w[1], w[2], w[3]},
                                ConvAttrs{a.stride, a.padding, {}});
    e.x_row = x.numel() / e.n;
    e.y_row = e.conv.ho * e.conv.wo * e.width;
    e.w_slice = w.numel() / a.experts;
    if (a.dense) {
      e.bucket_rows.push_back(e.n);  // the whole batch is one group
    } else {
      // 1, 2, 4, 8, 16, then every 16 rows up to N: a group pays for at most 15 padding rows
      // (powers of two alone would run 65 samples as 128).
      for (int64_t rows = 1;; rows = std::min(rows < 16 ? 2 * rows : rows + 16, e.n)) {
        e.bucket_rows.push_back(rows);
        if (rows == e.n) break;
      }
    }
    return e;
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
