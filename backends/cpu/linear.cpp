// linear on oneDNN inner-product primitives (forward, backward_data, backward_weights); weights
// stay in PyTorch's [out, in] layout ("oi"), which oneDNN's gemm-based inner product accepts. In
// mixed precision, reorders round each direction's inputs to bf16.
#include "backends/cpu/onednn_backend.h"

namespace advmoe {

namespace {

using namespace dnnl;

// src, weights and dst in the compute type (what a direction reads: bf16 in mixed precision);
// the _f32 twins as our tensors hold them and as every direction writes.
struct LinearDescs {
  memory::desc src, weights, dst, src_f32, weights_f32, dst_f32, bias;
};

LinearDescs linear_descs(int64_t n, int64_t in, int64_t out, memory::data_type compute) {
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  return {memory::desc({n, in}, compute, tag::nc),
          memory::desc({out, in}, compute, tag::oi),
          memory::desc({n, out}, compute, tag::nc),
          memory::desc({n, in}, f32, tag::nc),
          memory::desc({out, in}, f32, tag::oi),
          memory::desc({n, out}, f32, tag::nc),
          flat_desc(out)};
}

inner_product_forward::primitive_desc linear_forward_pd(const LinearDescs& d, bool bias,
                                                        const engine& e) {
  auto desc =
      bias ? inner_product_forward::desc(prop_kind::forward_training, d.src, d.weights, d.bias,
                                         d.dst_f32)
           : inner_product_forward::desc(prop_kind::forward_training, d.src, d.weights, d.dst_f32);
  return inner_product_forward::primitive_desc(desc, user_scratchpad(), e);
}

class LinearForward : public OnednnKernel {
 public:
  explicit LinearForward(const KernelArgs& a) : OnednnKernel(a) {
    bool bias = a.inputs.size() == 3;
    LinearDescs d = linear_descs(a.inputs[0].shape()[0], a.inputs[0].shape()[1],
                                 a.inputs[1].shape()[0], backend_.compute_type());
    auto pd = linear_forward_pd(d, bias, backend_.engine());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, input_as(a.inputs[0], d.src_f32, d.src)},
        {DNNL_ARG_WEIGHTS, input_as(a.inputs[1], d.weights_f32, d.weights)},
        {DNNL_ARG_DST, wrap(a.outputs[0], d.dst_f32)}};
    if (bias) args[DNNL_ARG_BIAS] = wrap(a.inputs[2], d.bias);
    add_primitive(inner_product_forward(pd), args, pd.scratchpad_desc());
  }
};

class LinearBackwardData : public OnednnKernel {
 public:
  explicit LinearBackwardData(const KernelArgs& a) : OnednnKernel(a) {
    LinearDescs d = linear_descs(a.inputs[0].shape()[0], a.inputs[1].shape()[1],
                                 a.inputs[1].shape()[0], backend_.compute_type());
    inner_product_backward_data::primitive_desc pd(
        inner_product_backward_data::desc(d.src_f32, d.weights, d.dst), user_scratchpad(),
        backend_.engine(), linear_forward_pd(d, false, backend_.engine()));
    add_primitive(inner_product_backward_data(pd),
                  {{DNNL_ARG_DIFF_DST, input_as(a.inputs[0], d.dst_f32, d.dst)},
                   {DNNL_ARG_WEIGHTS, input_as(a.inputs[1], d.weights_f32, d.weights)},
                   {DNNL_ARG_DIFF_SRC, wrap(a.outputs[0], d.src_f32)}},
                  pd.scratchpad_desc());
  }
};

class LinearBackwardWeights : public OnednnKernel {
 public:
  explicit LinearBackwardWeights(const KernelArgs& a) : OnednnKernel(a) {
    LinearDescs d = linear_descs(a.inputs[0].shape()[0], a.inputs[1].shape()[1],
                                 a.inputs[0].shape()[1], backend_.compute_type());
    inner_product_backward_weights::primitive_desc pd(
        inner_product_backward_weights::desc(d.src, d.weights_f32, d.dst), user_scratchpad(),
        backend_.engine(), linear_forward_pd(d, false, backend_.engine()));
    add_primitive(inner_product_backward_weights(pd),
                  {{DNNL_ARG_DIFF_DST, input_as(a.inputs[0], d.dst_f32, d.dst)},
                   {DNNL_ARG_SRC, input_as(a.inputs[1], d.src_f32, d.src)},
                   {DNNL_ARG_DIFF_WEIGHTS, wrap(a.outputs[0], d.weights_f32)}},
                  pd.scratchpad_desc());
  }
};

}  // namespace

void add_onednn_linear(KernelTable& t) {
  put(t, Op::Linear, [](const KernelArgs& a) { return std::make_unique<LinearForward>(a); });
  put(t, Op::LinearBackwardData,
      [](const KernelArgs& a) { return std::make_unique<LinearBackwardData>(a); });
  put(t, Op::LinearBackwardWeights,
      [](const KernelArgs& a) { return std::make_unique<LinearBackwardWeights>(a); });
}

}  // namespace advmoe
