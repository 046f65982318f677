// conv2d on cuDNN (legacy API): forward (plus the bias and a fused ReLU as a small kernel),
// backward data and backward filter, each one CudnnConvCall set up when the Plan is compiled; the
// workspace is the Plan's shared scratchpad.
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cudnn_conv.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

template <typename T>
class CudnnConv : public Kernel {
 public:
  // For the forward a = x, b = w, out = y; backward data: a = dy, b = w, out = dx; backward
  // filter: a = x, b = dy, out = dw. `bias` (forward only) may be null; `relu`: forward only.
  CudnnConv(const KernelArgs& args, ConvDirection direction, const ConvGeometry& g, const T* a,
            const T* b, T* out, const T* bias, bool relu = false)
      : backend_(cuda_backend(args.backend)),
        call_(backend_, direction, g, args.node.name),
        direction_(direction),
        a_(a),
        b_(b),
        out_(out),
        bias_(bias),
        relu_(relu),
        bias_total_(g.n * g.ho * g.wo * g.o),
        channels_(g.o) {}

  size_t scratchpad_bytes() const override { return call_.workspace_bytes(); }
  void set_scratchpad(void* scratchpad) override { workspace_ = scratchpad; }

  void run() override {
    switch (direction_) {
      case ConvDirection::Forward:
        call_.forward(a_, b_, out_, workspace_);
        if (bias_ || relu_) {
          conv_epilogue_kernel<<<blocks_for(bias_total_), kThreads, 0, backend_.stream()>>>(
              out_, bias_, relu_, bias_total_, channels_);
          ADVMOE_CUDA_CHECK(cudaGetLastError());
        }
        break;
      case ConvDirection::BackwardData:
        call_.backward_data(a_, b_, out_, workspace_);
        break;
      case ConvDirection::BackwardFilter:
        call_.backward_filter(a_, b_, out_, workspace_);
        break;
    }
  }

 private:
  CudaBackend& backend_;
  CudnnConvCall<T> call_;
  ConvDirection direction_;
  const T *a_, *b_;
  T* out_;
  const T* bias_;
  bool relu_;
  int64_t bias_total_, channels_;
  void* workspace_ = nullptr;
};

}  // namespace

void add_cuda_conv(KernelTable& t) {
  add_cuda_float(t, Op::Conv2d, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const ConvAttrs& attrs = std::get<ConvAttrs>(a.node.attrs);
    ConvGeometry g = ConvGeometry::make(a.inputs[0].shape(), a.inputs[1].shape(), attrs);
    const T* bias = a.inputs.size() == 3 ? a.inputs[2].data<T>() : nullptr;
    return std::unique_ptr<Kernel>(std::make_unique<CudnnConv<T>>(
        a, ConvDirection::Forward, g, a.inputs[0].data<T>(), a.inputs[1].data<T>(),
        a.outputs[0].data<T>(), bias, attrs.relu));
  });
  add_cuda_float(t, Op::Conv2dBackwardData, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    // inputs: dy, w; output: dx.
    ConvGeometry g = ConvGeometry::make(a.outputs[0].shape(), a.inputs[1].shape(),
                                        std::get<ConvAttrs>(a.node.attrs));
    return std::unique_ptr<Kernel>(
        std::make_unique<CudnnConv<T>>(a, ConvDirection::BackwardData, g, a.inputs[0].data<T>(),
                                       a.inputs[1].data<T>(), a.outputs[0].data<T>(), nullptr));
  });
  add_cuda_float(t, Op::Conv2dBackwardWeights, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    // inputs: dy, x; output: dw.
    ConvGeometry g = ConvGeometry::make(a.inputs[1].shape(), a.outputs[0].shape(),
                                        std::get<ConvAttrs>(a.node.attrs));
    return std::unique_ptr<Kernel>(
        std::make_unique<CudnnConv<T>>(a, ConvDirection::BackwardFilter, g, a.inputs[1].data<T>(),
                                       a.inputs[0].data<T>(), a.outputs[0].data<T>(), nullptr));
  });
}

}  // namespace advmoe
