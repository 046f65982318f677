// Convolution descriptors: source and destination NHWC, weights in whatever layout oneDNN
// prefers (format any: the kernels reorder from/to OHWI), our floor-mode output size. In mixed
// precision the inputs of each direction are bf16 and its output f32.
#include "backends/cpu/conv_primitives.h"

#include "backends/cpu/onednn_backend.h"

namespace advmoe {

namespace {

using namespace dnnl;

// src, dst and weights_any in the compute type (what a direction reads: bf16 in mixed precision);
// the _f32 twins for what a direction writes.
struct ConvDescs {
  memory::desc src, src_f32, weights_any, weights_any_f32, dst, dst_f32, bias;
  memory::dims strides, padding, right_padding;
};

memory::desc nhwc(const Shape& s, memory::data_type t) {
  return memory::desc({s[0], s[3], s[1], s[2]}, t, memory::format_tag::nhwc);
}

ConvDescs conv_descs(const ConvGeometry& g, bool bias, memory::data_type compute) {
  ConvDescs d;
  Shape x{g.n, g.h, g.w, g.c}, y{g.n, g.ho, g.wo, g.o};
  d.src = nhwc(x, compute);
  d.src_f32 = nhwc(x, memory::data_type::f32);
  d.dst = nhwc(y, compute);
  d.dst_f32 = nhwc(y, memory::data_type::f32);
  d.weights_any = memory::desc({g.o, g.c, g.kh, g.kw}, compute, memory::format_tag::any);
  d.weights_any_f32 =
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
                                                    const engine& e, prop_kind prop,
                                                    memory::data_type compute, bool relu) {
  ConvDescs d = conv_descs(g, bias, compute);
  primitive_attr attr = user_scratchpad();
  if (relu) {
    post_ops ops;
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  auto desc =
      bias ? convolution_forward::desc(prop, algorithm::convolution_direct, d.src, d.weights_any,
                                       d.bias, d.dst_f32, d.strides, d.padding, d.right_padding)
           : convolution_forward::desc(prop, algorithm::convolution_direct, d.src, d.weights_any,
                                       d.dst_f32, d.strides, d.padding, d.right_padding);
  return convolution_forward::primitive_desc(desc, attr, e);
}

convolution_backward_data::primitive_desc conv_backward_data_pd(const ConvGeometry& g,
                                                                const engine& e,
                                                                memory::data_type compute) {
  ConvDescs d = conv_descs(g, false, compute);
  auto hint = conv_forward_pd(g, false, e, prop_kind::forward_training, compute);
  convolution_backward_data::desc desc(algorithm::convolution_direct, d.src_f32, d.weights_any,
                                       d.dst, d.strides, d.padding, d.right_padding);
  return convolution_backward_data::primitive_desc(desc, user_scratchpad(), e, hint);
}

convolution_backward_weights::primitive_desc conv_backward_weights_pd(const ConvGeometry& g,
                                                                      const engine& e,
                                                                      memory::data_type compute) {
  ConvDescs d = conv_descs(g, false, compute);
  auto hint = conv_forward_pd(g, false, e, prop_kind::forward_training, compute);
  convolution_backward_weights::desc desc(algorithm::convolution_direct, d.src, d.weights_any_f32,
                                          d.dst, d.strides, d.padding, d.right_padding);
  return convolution_backward_weights::primitive_desc(desc, user_scratchpad(), e, hint);
}

}  // namespace advmoe
