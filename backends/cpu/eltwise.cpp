// Elementwise ops on oneDNN primitives: relu (backward from the output, so x can be freed
// early), add and mul (binary), add_n (sum), scale (eltwise_linear) and log-softmax.
#include "backends/cpu/onednn_backend.h"

namespace advmoe {

namespace {

using namespace dnnl;

class Relu : public OnednnKernel {
 public:
  explicit Relu(const KernelArgs& a) : OnednnKernel(a) {
    memory::desc md = flat_desc(a.outputs[0].numel());
    eltwise_forward::primitive_desc pd(
        eltwise_forward::desc(prop_kind::forward_training, algorithm::eltwise_relu, md, 0.f, 0.f),
        user_scratchpad(), backend_.engine());
    add_primitive(eltwise_forward(pd),
                  {{DNNL_ARG_SRC, wrap(a.inputs[0], md)}, {DNNL_ARG_DST, wrap(a.outputs[0], md)}},
                  pd.scratchpad_desc());
  }
};

class ReluBackward : public OnednnKernel {
 public:
  explicit ReluBackward(const KernelArgs& a) : OnednnKernel(a) {
    memory::desc md = flat_desc(a.outputs[0].numel());
    auto algo = algorithm::eltwise_relu_use_dst_for_bwd;
    eltwise_forward::primitive_desc hint(
        eltwise_forward::desc(prop_kind::forward_training, algo, md, 0.f, 0.f), user_scratchpad(),
        backend_.engine());
    eltwise_backward::primitive_desc pd(eltwise_backward::desc(algo, md, md, 0.f, 0.f),
                                        user_scratchpad(), backend_.engine(), hint);
    add_primitive(eltwise_backward(pd),
                  {{DNNL_ARG_DIFF_DST, wrap(a.inputs[0], md)},
                   {DNNL_ARG_DST, wrap(a.inputs[1], md)},
                   {DNNL_ARG_DIFF_SRC, wrap(a.outputs[0], md)}},
                  pd.scratchpad_desc());
  }
};

class Binary : public OnednnKernel {
 public:
  Binary(const KernelArgs& a, algorithm algo) : OnednnKernel(a) {
    memory::desc md = flat_desc(a.outputs[0].numel());
    binary::primitive_desc pd(binary::desc(algo, md, md, md), user_scratchpad(), backend_.engine());
    add_primitive(binary(pd),
                  {{DNNL_ARG_SRC_0, wrap(a.inputs[0], md)},
                   {DNNL_ARG_SRC_1, wrap(a.inputs[1], md)},
                   {DNNL_ARG_DST, wrap(a.outputs[0], md)}},
                  pd.scratchpad_desc());
  }
};

class AddN : public OnednnKernel {
 public:
  explicit AddN(const KernelArgs& a) : OnednnKernel(a) {
    memory::desc md = flat_desc(a.outputs[0].numel());
    std::vector<memory::desc> srcs(a.inputs.size(), md);
    sum::primitive_desc pd(md, std::vector<float>(a.inputs.size(), 1.f), srcs, backend_.engine(),
                           user_scratchpad());
    std::unordered_map<int, memory> args{{DNNL_ARG_DST, wrap(a.outputs[0], md)}};
    for (size_t i = 0; i < a.inputs.size(); ++i)
      args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = wrap(a.inputs[i], md);
    add_primitive(sum(pd), args, pd.scratchpad_desc());
  }
};

class Scale : public OnednnKernel {
 public:
  explicit Scale(const KernelArgs& a) : OnednnKernel(a) {
    memory::desc md = flat_desc(a.outputs[0].numel());
    float alpha = static_cast<float>(std::get<ScaleAttrs>(a.node.attrs).alpha);
    eltwise_forward::primitive_desc pd(
        eltwise_forward::desc(prop_kind::forward_inference, algorithm::eltwise_linear, md, alpha,
                              0.f),
        user_scratchpad(), backend_.engine());
    add_primitive(eltwise_forward(pd),
                  {{DNNL_ARG_SRC, wrap(a.inputs[0], md)}, {DNNL_ARG_DST, wrap(a.outputs[0], md)}},
                  pd.scratchpad_desc());
  }
};

logsoftmax_forward::primitive_desc log_softmax_pd(const memory::desc& md, const engine& e) {
  return logsoftmax_forward::primitive_desc(
      logsoftmax_forward::desc(prop_kind::forward_training, md, 1), user_scratchpad(), e);
}

class LogSoftmax : public OnednnKernel {
 public:
  explicit LogSoftmax(const KernelArgs& a) : OnednnKernel(a) {
    memory::desc md = rows_desc(a.inputs[0].shape());
    auto pd = log_softmax_pd(md, backend_.engine());
    add_primitive(logsoftmax_forward(pd),
                  {{DNNL_ARG_SRC, wrap(a.inputs[0], md)}, {DNNL_ARG_DST, wrap(a.outputs[0], md)}},
                  pd.scratchpad_desc());
  }
};

class LogSoftmaxBackward : public OnednnKernel {
 public:
  explicit LogSoftmaxBackward(const KernelArgs& a) : OnednnKernel(a) {
    memory::desc md = rows_desc(a.inputs[0].shape());
    logsoftmax_backward::primitive_desc pd(logsoftmax_backward::desc(md, md, 1), user_scratchpad(),
                                           backend_.engine(),
                                           log_softmax_pd(md, backend_.engine()));
    add_primitive(logsoftmax_backward(pd),
                  {{DNNL_ARG_DIFF_DST, wrap(a.inputs[0], md)},
                   {DNNL_ARG_DST, wrap(a.inputs[1], md)},
                   {DNNL_ARG_DIFF_SRC, wrap(a.outputs[0], md)}},
                  pd.scratchpad_desc());
  }
};

template <typename K>
KernelFactory factory() {
  return [](const KernelArgs& a) { return std::make_unique<K>(a); };
}

}  // namespace

void add_onednn_eltwise(KernelTable& t) {
  put(t, Op::Relu, factory<Relu>());
  put(t, Op::ReluBackward, factory<ReluBackward>());
  put(t, Op::Add,
      [](const KernelArgs& a) { return std::make_unique<Binary>(a, algorithm::binary_add); });
  put(t, Op::Mul,
      [](const KernelArgs& a) { return std::make_unique<Binary>(a, algorithm::binary_mul); });
  put(t, Op::AddN, factory<AddN>());
  put(t, Op::Scale, factory<Scale>());
  put(t, Op::LogSoftmax, factory<LogSoftmax>());
  put(t, Op::LogSoftmaxBackward, factory<LogSoftmaxBackward>());
}

}  // namespace advmoe
