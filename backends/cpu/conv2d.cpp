// conv2d on oneDNN: forward, backward_data and backward_weights primitives on NHWC activations.
// Weights are kept OHWI in our tensors; oneDNN picks its preferred (blocked) weight layout and a
// reorder, created here, converts on every run because weights change between runs. In mixed
// precision the same reorders round the inputs to bf16. A forward with ConvAttrs::relu (set by the
// eval-mode fusion, compile/eval_fusion.h) applies the ReLU as a oneDNN post-op.
#include "backends/cpu/conv_primitives.h"
#include "backends/cpu/onednn_backend.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

using namespace dnnl;

// Conv kernels read OHWI weights through a reorder into the layout oneDNN chose, when it chose
// another one; the reorder runs on every run() since the weights change between runs.
class ConvKernel : public OnednnKernel {
 protected:
  using OnednnKernel::OnednnKernel;
  memory weights_as(const Tensor& ohwi, const memory::desc& wanted) {
    return input_as(ohwi, ohwi_desc(ohwi.shape()), wanted);
  }
};

class ConvForward : public ConvKernel {
 public:
  explicit ConvForward(const KernelArgs& a) : ConvKernel(a) {
    bool bias = a.inputs.size() == 3;
    const ConvAttrs& attrs = std::get<ConvAttrs>(a.node.attrs);
    ConvGeometry g = ConvGeometry::make(a.inputs[0].shape(), a.inputs[1].shape(), attrs);
    auto pd = conv_forward_pd(
        g, bias, backend_.engine(),
        a.mode == Mode::Train ? prop_kind::forward_training : prop_kind::forward_inference,
        backend_.compute_type(), attrs.relu);
    memory weights = weights_as(a.inputs[1], pd.weights_desc());
    memory src = input_as(a.inputs[0], nhwc_desc(a.inputs[0].shape()), pd.src_desc());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},
                                         {DNNL_ARG_WEIGHTS, weights},
                                         {DNNL_ARG_DST, wrap(a.outputs[0], pd.dst_desc())}};
    if (bias) args[DNNL_ARG_BIAS] = wrap(a.inputs[2], flat_desc(g.o));
    add_primitive(convolution_forward(pd), args, pd.scratchpad_desc());
  }
};

class ConvBackwardData : public ConvKernel {
 public:
  explicit ConvBackwardData(const KernelArgs& a) : ConvKernel(a) {
    ConvGeometry g = ConvGeometry::make(a.outputs[0].shape(), a.inputs[1].shape(),
                                        std::get<ConvAttrs>(a.node.attrs));
    auto pd = conv_backward_data_pd(g, backend_.engine(), backend_.compute_type());
    memory weights = weights_as(a.inputs[1], pd.weights_desc());
    memory dy = input_as(a.inputs[0], nhwc_desc(a.inputs[0].shape()), pd.diff_dst_desc());
    add_primitive(convolution_backward_data(pd),
                  {{DNNL_ARG_DIFF_DST, dy},
                   {DNNL_ARG_WEIGHTS, weights},
                   {DNNL_ARG_DIFF_SRC, wrap(a.outputs[0], pd.diff_src_desc())}},
                  pd.scratchpad_desc());
  }
};

class ConvBackwardWeights : public OnednnKernel {
 public:
  explicit ConvBackwardWeights(const KernelArgs& a) : OnednnKernel(a) {
    ConvGeometry g = ConvGeometry::make(a.inputs[1].shape(), a.outputs[0].shape(),
                                        std::get<ConvAttrs>(a.node.attrs));
    auto pd = conv_backward_weights_pd(g, backend_.engine(), backend_.compute_type());
    memory user = wrap(a.outputs[0], ohwi_desc(a.outputs[0].shape()));
    memory diff_weights =
        pd.diff_weights_desc() == user.get_desc() ? user : owned(pd.diff_weights_desc());
    memory dy = input_as(a.inputs[0], nhwc_desc(a.inputs[0].shape()), pd.diff_dst_desc());
    memory x = input_as(a.inputs[1], nhwc_desc(a.inputs[1].shape()), pd.src_desc());
    add_primitive(
        convolution_backward_weights(pd),
        {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights}},
        pd.scratchpad_desc());
    if (diff_weights != user) add_reorder(diff_weights, user);
  }
};

// Bias gradient: sum of dy over all rows, as a oneDNN reduction [rows, C] -> [1, C].
class ChannelSum : public OnednnKernel {
 public:
  explicit ChannelSum(const KernelArgs& a) : OnednnKernel(a) {
    int64_t c = a.outputs[0].numel(), rows = a.inputs[0].numel() / c;
    memory::desc src({rows, c}, memory::data_type::f32, memory::format_tag::nc);
    memory::desc dst({1, c}, memory::data_type::f32, memory::format_tag::nc);
    reduction::primitive_desc pd(reduction::desc(algorithm::reduction_sum, src, dst, 0, 0),
                                 user_scratchpad(), backend_.engine());
    add_primitive(reduction(pd),
                  {{DNNL_ARG_SRC, wrap(a.inputs[0], src)}, {DNNL_ARG_DST, wrap(a.outputs[0], dst)}},
                  pd.scratchpad_desc());
  }
};

}  // namespace

void add_onednn_conv(KernelTable& t) {
  put(t, Op::Conv2d, [](const KernelArgs& a) { return std::make_unique<ConvForward>(a); });
  put(t, Op::Conv2dBackwardData,
      [](const KernelArgs& a) { return std::make_unique<ConvBackwardData>(a); });
  put(t, Op::Conv2dBackwardWeights,
      [](const KernelArgs& a) { return std::make_unique<ConvBackwardWeights>(a); });
  put(t, Op::ChannelSum, [](const KernelArgs& a) { return std::make_unique<ChannelSum>(a); });
}

}  // namespace advmoe
