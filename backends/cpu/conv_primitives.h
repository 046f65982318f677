// oneDNN convolution primitive descriptors for our NHWC activations and OHWI weights, in the
// three directions. Shared by conv2d (backends/cpu/conv2d.cpp) and expert_conv
// (backends/cpu/expert_conv.cpp, one per bucket batch size), so both ask oneDNN the same way.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "ops/geometry.h"

namespace advmoe {

// `compute`: the data type the primitive reads its inputs in (source, weights, diff_dst): f32, or
// bf16 for mixed precision; outputs (dst, diff_src, diff_weights) and bias are always f32.
// `prop`: forward_training (a backward pass will follow) or forward_inference. `relu`: apply a
// ReLU to the result as a post-op (ConvAttrs::relu, set by compile/eval_fusion.h).
dnnl::convolution_forward::primitive_desc conv_forward_pd(const ConvGeometry& g, bool bias,
                                                          const dnnl::engine& engine,
                                                          dnnl::prop_kind prop,
                                                          dnnl::memory::data_type compute,
                                                          bool relu = false);
dnnl::convolution_backward_data::primitive_desc conv_backward_data_pd(
    const ConvGeometry& g, const dnnl::engine& engine, dnnl::memory::data_type compute);
dnnl::convolution_backward_weights::primitive_desc conv_backward_weights_pd(
    const ConvGeometry& g, const dnnl::engine& engine, dnnl::memory::data_type compute);

}  // namespace advmoe
