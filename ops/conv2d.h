// 2-D convolution on NHWC activations with OHWI weights, optional bias.
// Contract: x [N, H, W, C], w [O, kh, kw, C], b [O] -> y [N, Ho, Wo, O] with
// Ho = (H + 2 * padding - kh) / stride + 1. Backward is split into backward_data (dx) and
// backward_weights (dw) so that an attack, which needs only dx, skips the weight kernel.
#pragma once

#include <string>

#include "graph/graph.h"

namespace advmoe {

Val conv2d(Val x, Val w, int stride = 1, int padding = 0, const std::string& name = "");
Val conv2d(Val x, Val w, Val bias, int stride, int padding, const std::string& name = "");
Val conv2d_backward_data(Val dy, Val w, const Shape& x_shape, int stride, int padding,
                         const std::string& name = "");
Val conv2d_backward_weights(Val dy, Val x, const Shape& w_shape, int stride, int padding,
                            const std::string& name = "");
// Sum over every axis but the last: the bias gradient of conv2d and linear.
Val channel_sum(Val x, const std::string& name = "");

}  // namespace advmoe
