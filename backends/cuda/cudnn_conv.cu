// CudnnConvCall: descriptors, algorithm choice and the three cuDNN convolution calls.
#include "backends/cuda/cudnn_conv.h"

#include <sstream>

namespace advmoe {

namespace {

constexpr size_t kWorkspaceCap = size_t{1} << 30;  // 1 GiB per convolution at most

template <typename T>
cudnnDataType_t cudnn_type() {
  return sizeof(T) == 4 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

// The first usable entry of cuDNN's ranking (fastest first for the timed search, most promising
// first for the heuristics): it succeeded, fits the cap, and is deterministic when asked.
template <typename Perf, typename Algo>
bool pick(const Perf* perf, int count, bool deterministic, Algo* algo, size_t* bytes) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kWorkspaceCap) continue;
    if (deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    *algo = perf[i].algo;
    *bytes = perf[i].memory;
    return true;
  }
  return false;
}

}  // namespace

template <typename T>
CudnnConvCall<T>::CudnnConvCall(CudaBackend& backend, ConvDirection direction,
                                const ConvGeometry& g, const std::string& node)
    : backend_(backend), direction_(direction) {
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
  // FMA math keeps float32 results comparable with the CPU; TF32 tensor cores only when asked.
  ADVMOE_CUDNN_CHECK(cudnnSetConvolutionMathType(
      conv_desc_, backend_.options().tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  std::ostringstream problem;
  problem << static_cast<int>(direction) << ' ' << sizeof(T) << ' ' << g.n << ' ' << g.h << ' '
          << g.w << ' ' << g.c << ' ' << g.o << ' ' << g.kh << ' ' << g.kw << ' ' << g.stride << ' '
          << g.pad;
  choose_algorithm(node, problem.str());
}

template <typename T>
CudnnConvCall<T>::~CudnnConvCall() {
  cudnnDestroyConvolutionDescriptor(conv_desc_);
  cudnnDestroyFilterDescriptor(w_desc_);
  cudnnDestroyTensorDescriptor(y_desc_);
  cudnnDestroyTensorDescriptor(x_desc_);
}

template <typename T>
void CudnnConvCall<T>::choose_algorithm(const std::string& node, const std::string& problem) {
  auto& known = backend_.conv_choices();
  if (auto it = known.find(problem); it != known.end()) {
    forward_ = static_cast<cudnnConvolutionFwdAlgo_t>(it->second.algorithm);
    backward_data_ = static_cast<cudnnConvolutionBwdDataAlgo_t>(it->second.algorithm);
    backward_filter_ = static_cast<cudnnConvolutionBwdFilterAlgo_t>(it->second.algorithm);
    workspace_bytes_ = it->second.workspace_bytes;
    return;
  }
  cudnnHandle_t h = backend_.cudnn();
  const bool deterministic = backend_.options().deterministic;
  // One ranking from cuDNN, timed (every algorithm run once on scratch memory cuDNN allocates
  // itself) or heuristic, and its first usable entry.
  auto rank_and_pick = [&](bool timed) {
    int count = 0;
    cudnnStatus_t status;
    if (direction_ == ConvDirection::Forward) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      const int n = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
      status = timed ? cudnnFindConvolutionForwardAlgorithm(h, x_desc_, w_desc_, conv_desc_,
                                                            y_desc_, n, &count, perf)
                     : cudnnGetConvolutionForwardAlgorithm_v7(h, x_desc_, w_desc_, conv_desc_,
                                                              y_desc_, n, &count, perf);
      return status == CUDNN_STATUS_SUCCESS &&
             pick(perf, count, deterministic, &forward_, &workspace_bytes_);
    }
    if (direction_ == ConvDirection::BackwardData) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      const int n = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
      status = timed ? cudnnFindConvolutionBackwardDataAlgorithm(h, w_desc_, y_desc_, conv_desc_,
                                                                 x_desc_, n, &count, perf)
                     : cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w_desc_, y_desc_, conv_desc_,
                                                                   x_desc_, n, &count, perf);
      return status == CUDNN_STATUS_SUCCESS &&
             pick(perf, count, deterministic, &backward_data_, &workspace_bytes_);
    }
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    const int n = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
    status = timed ? cudnnFindConvolutionBackwardFilterAlgorithm(h, x_desc_, y_desc_, conv_desc_,
                                                                 w_desc_, n, &count, perf)
                   : cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x_desc_, y_desc_, conv_desc_,
                                                                   w_desc_, n, &count, perf);
    return status == CUDNN_STATUS_SUCCESS &&
           pick(perf, count, deterministic, &backward_filter_, &workspace_bytes_);
  };
  // A timed search that fails (e.g. out of memory for its scratch) falls back to the heuristics.
  const bool timed = backend_.options().conv_search == ConvSearch::Timed;
  bool found = timed && rank_and_pick(true);
  if (!found) {
    if (timed) cudaGetLastError();  // a failed search's allocation error must not linger
    found = rank_and_pick(false);
  }
  ADVMOE_CHECK(found, "convolution '" << node << "': cuDNN offers no "
                                      << (deterministic ? "deterministic " : "")
                                      << "algorithm within a " << (kWorkspaceCap >> 20)
                                      << " MiB workspace");
  int algorithm = direction_ == ConvDirection::Forward        ? static_cast<int>(forward_)
                  : direction_ == ConvDirection::BackwardData ? static_cast<int>(backward_data_)
                                                              : static_cast<int>(backward_filter_);
  known[problem] = {algorithm, workspace_bytes_};
}

template <typename T>
void CudnnConvCall<T>::forward(const T* x, const T* w, T* y, void* workspace) const {
  const T one = 1, zero = 0;
  ADVMOE_CUDNN_CHECK(cudnnConvolutionForward(backend_.cudnn(), &one, x_desc_, x, w_desc_, w,
                                             conv_desc_, forward_, workspace, workspace_bytes_,
                                             &zero, y_desc_, y));
}

template <typename T>
void CudnnConvCall<T>::backward_data(const T* dy, const T* w, T* dx, void* workspace) const {
  const T one = 1, zero = 0;
  ADVMOE_CUDNN_CHECK(cudnnConvolutionBackwardData(backend_.cudnn(), &one, w_desc_, w, y_desc_, dy,
                                                  conv_desc_, backward_data_, workspace,
                                                  workspace_bytes_, &zero, x_desc_, dx));
}

template <typename T>
void CudnnConvCall<T>::backward_filter(const T* x, const T* dy, T* dw, void* workspace) const {
  const T one = 1, zero = 0;
  ADVMOE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(backend_.cudnn(), &one, x_desc_, x, y_desc_, dy,
                                                    conv_desc_, backward_filter_, workspace,
                                                    workspace_bytes_, &zero, w_desc_, dw));
}

template class CudnnConvCall<float>;
template class CudnnConvCall<double>;

}  // namespace advmoe
