// One cuDNN convolution call of a fixed geometry and direction: its descriptors and the algorithm
// chosen for it when a Plan is compiled (cuDNN's timed search or its heuristics, within a
// workspace cap, deterministic algorithms only when the backend asks). conv2d wraps one call;
// expert_conv holds one per bucket batch size.
#pragma once

#include <string>

#include "backends/cuda/cuda_backend.h"
#include "ops/geometry.h"

namespace advmoe {

enum class ConvDirection { Forward, BackwardData, BackwardFilter };

template <typename T>  // float or double
class CudnnConvCall {
 public:
  // g: input [N, H, W, C] (NHWC), weight [O, kh, kw, C] (OHWI = cuDNN's KRSC), output
  // [N, Ho, Wo, O]. `node` names the graph node in errors.
  CudnnConvCall(CudaBackend& backend, ConvDirection direction, const ConvGeometry& g,
                const std::string& node);
  ~CudnnConvCall();
  CudnnConvCall(const CudnnConvCall&) = delete;
  CudnnConvCall& operator=(const CudnnConvCall&) = delete;

  size_t workspace_bytes() const { return workspace_bytes_; }
  // Forward: y = conv(x, w). BackwardData: dx = conv_bwd_data(dy, w).
  // BackwardFilter: dw = conv_bwd_filter(x, dy). Outputs are overwritten (beta = 0).
  void forward(const T* x, const T* w, T* y, void* workspace) const;
  void backward_data(const T* dy, const T* w, T* dx, void* workspace) const;
  void backward_filter(const T* x, const T* dy, T* dw, void* workspace) const;

 private:
  void choose_algorithm(const std::string& node, const std::string& problem);

  CudaBackend& backend_;
  ConvDirection direction_;
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  cudnnConvolutionFwdAlgo_t forward_{};
  cudnnConvolutionBwdDataAlgo_t backward_data_{};
  cudnnConvolutionBwdFilterAlgo_t backward_filter_{};
  size_t workspace_bytes_ = 0;
};

}  // namespace advmoe
