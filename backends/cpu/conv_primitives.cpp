// Convolution descriptors: source and destination NHWC, weights in whatever layout oneDNN
// prefers (format any: the kernels reorder from/to OHWI), our floor-mode output size.
#include "backends/cpu/conv_primitives.h"

#include "backends/cpu/onednn_backend.h"

namespace advmoe {

namespace {

using namespace dnnl;

struct ConvDescs {
  memory::desc src, weights_any, dst, bias;
  memory::dims strides, padding, right_padding;
};

ConvDescs conv_descs(const ConvGeometry& g, bool bias) {
  ConvDescs d;
  d.src = nhwc_desc(Shape{g.n, g.h, g.w, g.c});
  d.dst = nhwc_desc(Shape{g.n, g.ho, g.wo, g.o});
  d.weights_any =
      memory::desc({g.o, g.c, g.kh, g.kw}, memory::data_type::f32, memory::format_tag::any);
  if (bias) d.bias = flat_desc(g.o);
  d.strides = {g.stride, g.stride};
  d.padding = {g.pad, g.pad};
  // The right padding that makes oneDNN's output size equal our floor-mode size.
  d.right_padding = {(g.ho - 1) * g.stride + g.kh - g.h - g.pad,
                     (g.wo - 1) * g.stride + g.kw - g.w - g.pad};
  return d;
}

}  // namespace

convolution_forward::primitive_desc conv_forward_pd(const ConvGeometry& g, bool bias,
                                                    const engine& e, prop_kind prop) {
  ConvDescs d = conv_descs(g, bias);
  auto desc =
      bias ? convolution_forward::desc(prop, algorithm::convolution_direct, d.src, d.weights_any,
                                       d.bias, d.dst, d.strides, d.padding, d.right_padding)
           : convolution_forward::desc(prop, algorithm::convolution_direct, d.src, d.weights_any,
                                       d.dst, d.strides, d.padding, d.right_padding);
  return convolution_forward::primitive_desc(desc, user_scratchpad(), e);
}

convolution_backward_data::primitive_desc conv_backward_data_pd(const ConvGeometry& g,
                                                                const engine& e) {
  ConvDescs d = conv_descs(g, false);
  auto hint = conv_forward_pd(g, false, e, prop_kind::forward_training);
  convolution_backward_data::desc desc(algorithm::convolution_direct, d.src, d.weights_any, d.dst,
                                       d.strides, d.padding, d.right_padding);
  return convolution_backward_data::primitive_desc(desc, user_scratchpad(), e, hint);
}

convolution_backward_weights::primitive_desc conv_backward_weights_pd(const ConvGeometry& g,
                                                                      const engine& e) {
  ConvDescs d = conv_descs(g, false);
  auto hint = conv_forward_pd(g, false, e, prop_kind::forward_training);
  convolution_backward_weights::desc desc(algorithm::convolution_direct, d.src, d.weights_any,
                                          d.dst, d.strides, d.padding, d.right_padding);
  return convolution_backward_weights::primitive_desc(desc, user_scratchpad(), e, hint);
}

}  // namespace advmoe
