// linear on oneDNN inner-product primitives (forward, backward_data, backward_weights); weights
// stay in PyTorch's [out, in] layout ("oi"), which oneDNN's gemm-based inner product accepts.
#include "backends/cpu/onednn_backend.h"

namespace advmoe {

namespace {

using namespace dnnl;

struct LinearDescs {
  memory::desc src, weights, bias, dst;
};

LinearDescs linear_descs(int64_t n, int64_t in, int64_t out) {
  return {rows_desc(Shape{n, in}),
          memory::desc({out, in}, memory::data_type::f32, memory::format_tag::oi), flat_desc(out),
          rows_desc(Shape{n, out})};
}

inner_product_forward::primitive_desc linear_forward_pd(const LinearDescs& d, bool bias,
                                                        const engine& e) {
  auto desc =
      bias ? inner_product_forward::desc(prop_kind::forward_training, d.src, d.weights, d.bias,
                                         d.dst)
           : inner_product_forward::desc(prop_kind::forward_training, d.src, d.weights, d.dst);
  return inner_product_forward::primitive_desc(desc, user_scratchpad(), e);
}

class LinearForward : public OnednnKernel {
 public:
  explicit LinearForward(const KernelArgs& a) : OnednnKernel(a) {
    bool bias = a.inputs.size() == 3;
    LinearDescs d =
        linear_descs(a.inputs[0].shape()[0], a.inputs[0].shape()[1], a.inputs[1].shape()[0]);
    auto pd = linear_forward_pd(d, bias, backend_.engine());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(a.inputs[0], d.src)},
                                         {DNNL_ARG_WEIGHTS, wrap(a.inputs[1], d.weights)},
                                         {DNNL_ARG_DST, wrap(a.outputs[0], d.dst)}};
    if (bias) args[DNNL_ARG_BIAS] = wrap(a.inputs[2], d.bias);
    add_primitive(inner_product_forward(pd), args, pd.scratchpad_desc());
  }
};

class LinearBackwardData : public OnednnKernel {
 public:
  explicit LinearBackwardData(const KernelArgs& a) : OnednnKernel(a) {
    LinearDescs d =
        linear_descs(a.inputs[0].shape()[0], a.inputs[1].shape()[1], a.inputs[1].shape()[0]);
    inner_product_backward_data::primitive_desc pd(
        inner_product_backward_data::desc(d.src, d.weights, d.dst), user_scratchpad(),
        backend_.engine(), linear_forward_pd(d, false, backend_.engine()));
    add_primitive(inner_product_backward_data(pd),
                  {{DNNL_ARG_DIFF_DST, wrap(a.inputs[0], d.dst)},
                   {DNNL_ARG_WEIGHTS, wrap(a.inputs[1], d.weights)},
                   {DNNL_ARG_DIFF_SRC, wrap(a.outputs[0], d.src)}},
                  pd.scratchpad_desc());
  }
};

class LinearBackwardWeights : public OnednnKernel {
 public:
  explicit LinearBackwardWeights(const KernelArgs& a) : OnednnKernel(a) {
    LinearDescs d =
        linear_descs(a.inputs[0].shape()[0], a.inputs[1].shape()[1], a.inputs[0].shape()[1]);
    inner_product_backward_weights::primitive_desc pd(
        inner_product_backward_weights::desc(d.src, d.weights, d.dst), user_scratchpad(),
        backend_.engine(), linear_forward_pd(d, false, backend_.engine()));
    add_primitive(inner_product_backward_weights(pd),
                  {{DNNL_ARG_DIFF_DST, wrap(a.inputs[0], d.dst)},
                   {DNNL_ARG_SRC, wrap(a.inputs[1], d.src)},
                   {DNNL_ARG_DIFF_WEIGHTS, wrap(a.outputs[0], d.weights)}},
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
