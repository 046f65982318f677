// conv2d on cuDNN (legacy API): forward, backward data and backward filter in NHWC with OHWI
// weights (cuDNN's NHWC filter layout, KRSC, is exactly OHWI). Descriptors and the algorithm are
// chosen once per node when the Plan is compiled (cuDNN's heuristics, the first algorithm whose
// workspace fits the cap); the workspace is the Plan's shared scratchpad. Tensor-core / TF32
// math only when the backend's TF32 switch is on (parity tests keep it off).
#include "ops/attrs.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

constexpr size_t kWorkspaceCap = size_t{1} << 30;  // 1 GiB per convolution at most

template <typename T>
__global__ void add_channel_bias_kernel(T* y, const T* bias, int64_t total, int64_t c) {
  ADVMOE_GRID_STRIDE(i, total)
  y[i] += bias[i % c];
}

template <typename T>
cudnnDataType_t cudnn_type() {
  return sizeof(T) == 4 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

enum class Direction { Forward, BackwardData, BackwardFilter };

template <typename T>
class CudnnConv : public Kernel {
 public:
  // x: input [N, H, W, C]; w: weight [O, kh, kw, C]; y: output [N, Ho, Wo, O]; for each
  // direction two of them are read and one written (plus the bias in the forward).
  CudnnConv(const KernelArgs& a, Direction direction, const ConvGeometry& g, const T* x, const T* w,
            T* y_or_grad_out, const T* bias)
      : backend_(cuda_backend(a.backend)), direction_(direction), g_(g) {
    x_ = x;
    w_ = w;
    y_ = y_or_grad_out;
    bias_ = bias;
    cudnnDataType_t type = cudnn_type<T>();
    ADVMOE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_desc_));
    ADVMOE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_desc_));
    ADVMOE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_desc_));
    ADVMOE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_desc_));
    ADVMOE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_desc_, CUDNN_TENSOR_NHWC, type, int(g.n),
                                                  int(g.c), int(g.h), int(g.w)));
    ADVMOE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_desc_, CUDNN_TENSOR_NHWC, type, int(g.n),
                                                  int(g.o), int(g.ho), int(g.wo)));
    ADVMOE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_desc_, type, CUDNN_TENSOR_NHWC, int(g.o),
                                                  int(g.c), int(g.kh), int(g.kw)));
    ADVMOE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_desc_, int(g.pad), int(g.pad),
                                                       int(g.stride), int(g.stride), 1, 1,
                                                       CUDNN_CROSS_CORRELATION, type));
    ADVMOE_CUDNN_CHECK(cudnnSetConvolutionMathType(
        conv_desc_, backend_.tf32() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    choose_algorithm(a.node.name);
  }

  ~CudnnConv() override {
    cudnnDestroyConvolutionDescriptor(conv_desc_);
    cudnnDestroyFilterDescriptor(w_desc_);
    cudnnDestroyTensorDescriptor(y_desc_);
    cudnnDestroyTensorDescriptor(x_desc_);
  }

  size_t scratchpad_bytes() const override { return workspace_bytes_; }
  void set_scratchpad(void* scratchpad) override { workspace_ = scratchpad; }

  void run() override {
    const T one = 1, zero = 0;
    cudnnHandle_t h = backend_.cudnn();
    switch (direction_) {
      case Direction::Forward:
        ADVMOE_CUDNN_CHECK(cudnnConvolutionForward(h, &one, x_desc_, x_, w_desc_, w_, conv_desc_,
                                                   forward_, workspace_, workspace_bytes_, &zero,
                                                   y_desc_, y_));
        if (bias_) {
          int64_t total = g_.n * g_.ho * g_.wo * g_.o;
          add_channel_bias_kernel<<<blocks_for(total), kThreads, 0, backend_.stream()>>>(
              y_, bias_, total, g_.o);
          ADVMOE_CUDA_CHECK(cudaGetLastError());
        }
        break;
      case Direction::BackwardData:  // x_ is dy here, y_ is dx
        ADVMOE_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, w_desc_, w_, y_desc_, x_,
                                                        conv_desc_, backward_data_, workspace_,
                                                        workspace_bytes_, &zero, x_desc_, y_));
        break;
      case Direction::BackwardFilter:  // x_ is x, w_ is dy, y_ is dw
        ADVMOE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, x_desc_, x_, y_desc_, w_,
                                                          conv_desc_, backward_filter_, workspace_,
                                                          workspace_bytes_, &zero, w_desc_, y_));
        break;
    }
  }

 private:
  // cuDNN's heuristic ranking; the first supported algorithm within the workspace cap.
  void choose_algorithm(const std::string& node) {
    cudnnHandle_t h = backend_.cudnn();
    int count = 0;
    bool found = false;
    if (direction_ == Direction::Forward) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      ADVMOE_CUDNN_CHECK(
          cudnnGetConvolutionForwardAlgorithm_v7(h, x_desc_, w_desc_, conv_desc_, y_desc_,
                                                 CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
      for (int i = 0; i < count && !found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceCap) {
          forward_ = perf[i].algo;
          workspace_bytes_ = perf[i].memory;
          found = true;
        }
    } else if (direction_ == Direction::BackwardData) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      ADVMOE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
          h, w_desc_, y_desc_, conv_desc_, x_desc_, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count,
          perf));
      for (int i = 0; i < count && !found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceCap) {
          backward_data_ = perf[i].algo;
          workspace_bytes_ = perf[i].memory;
          found = true;
        }
    } else {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      ADVMOE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, x_desc_, y_desc_, conv_desc_, w_desc_, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count,
          perf));
      for (int i = 0; i < count && !found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceCap) {
          backward_filter_ = perf[i].algo;
          workspace_bytes_ = perf[i].memory;
          found = true;
        }
    }
    ADVMOE_CHECK(found, "conv2d '" << node << "': cuDNN offers no algorithm within a "
                                   << (kWorkspaceCap >> 20) << " MiB workspace");
  }

  CudaBackend& backend_;
  Direction direction_;
  ConvGeometry g_;
  const T *x_ = nullptr, *w_ = nullptr, *bias_ = nullptr;
  T* y_ = nullptr;
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  cudnnConvolutionFwdAlgo_t forward_{};
  cudnnConvolutionBwdDataAlgo_t backward_data_{};
  cudnnConvolutionBwdFilterAlgo_t backward_filter_{};
  size_t workspace_bytes_ = 0;
  void* workspace_ = nullptr;
};

}  // namespace

void register_cuda_conv(KernelRegistry& r) {
  add_cuda_float(r, Op::Conv2d, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    ConvGeometry g = ConvGeometry::make(a.inputs[0].shape(), a.inputs[1].shape(),
                                        std::get<ConvAttrs>(a.node.attrs));
    const T* bias = a.inputs.size() == 3 ? a.inputs[2].data<T>() : nullptr;
    return std::unique_ptr<Kernel>(
        std::make_unique<CudnnConv<T>>(a, Direction::Forward, g, a.inputs[0].data<T>(),
                                       a.inputs[1].data<T>(), a.outputs[0].data<T>(), bias));
  });
  add_cuda_float(r, Op::Conv2dBackwardData, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    ConvGeometry g = ConvGeometry::make(a.outputs[0].shape(), a.inputs[1].shape(),
                                        std::get<ConvAttrs>(a.node.attrs));
    // inputs: dy, w; output: dx.
    return std::unique_ptr<Kernel>(
        std::make_unique<CudnnConv<T>>(a, Direction::BackwardData, g, a.inputs[0].data<T>(),
                                       a.inputs[1].data<T>(), a.outputs[0].data<T>(), nullptr));
  });
  add_cuda_float(r, Op::Conv2dBackwardWeights, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    ConvGeometry g = ConvGeometry::make(a.inputs[1].shape(), a.outputs[0].shape(),
                                        std::get<ConvAttrs>(a.node.attrs));
    // inputs: dy, x; output: dw.
    return std::unique_ptr<Kernel>(
        std::make_unique<CudnnConv<T>>(a, Direction::BackwardFilter, g, a.inputs[1].data<T>(),
                                       a.inputs[0].data<T>(), a.outputs[0].data<T>(), nullptr));
  });
}

}  // namespace advmoe
