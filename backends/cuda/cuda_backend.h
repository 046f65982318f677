// The CUDA backend: one device, one stream with the cuDNN and cuBLAS handles bound to it, and a
// caching allocator (freed blocks are kept per size and reused, so steady-state training never
// calls cudaMalloc). Kernels reach the stream and handles through cuda_backend(args.backend).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backends.h"
#include "runtime/backend.h"
#include "runtime/error.h"

namespace advmoe {

#define ADVMOE_CUDA_CHECK(call)                                        \
  do {                                                                 \
    cudaError_t advmoe_status_ = (call);                               \
    ADVMOE_CHECK(advmoe_status_ == cudaSuccess,                        \
                 #call << ": " << cudaGetErrorString(advmoe_status_)); \
  } while (0)

#define ADVMOE_CUDNN_CHECK(call)                                        \
  do {                                                                  \
    cudnnStatus_t advmoe_status_ = (call);                              \
    ADVMOE_CHECK(advmoe_status_ == CUDNN_STATUS_SUCCESS,                \
                 #call << ": " << cudnnGetErrorString(advmoe_status_)); \
  } while (0)

#define ADVMOE_CUBLAS_CHECK(call)                                                  \
  do {                                                                             \
    cublasStatus_t advmoe_status_ = (call);                                        \
    ADVMOE_CHECK(advmoe_status_ == CUBLAS_STATUS_SUCCESS,                          \
                 #call << ": cuBLAS status " << static_cast<int>(advmoe_status_)); \
  } while (0)

// Device blocks rounded up to 512 bytes and kept on free lists by size once released.
class CachingAllocator {
 public:
  explicit CachingAllocator(cudaStream_t stream) : stream_(stream) {}
  ~CachingAllocator();
  void* allocate(size_t bytes);
  void release(void* ptr, size_t bytes);
  size_t cached_bytes() const { return cached_bytes_; }

 private:
  cudaStream_t stream_;
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;  // rounded size -> block
  size_t cached_bytes_ = 0;
};

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& options = {});
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  Device device() const override { return Device{DeviceKind::CUDA, 0}; }
  Tensor allocate(const Shape& shape, DType dtype) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void synchronize() override;

  cudaStream_t stream() const { return stream_; }
  cudnnHandle_t cudnn() const { return cudnn_; }
  cublasHandle_t cublas() const { return cublas_; }
  // TF32 math, deterministic algorithms, cuDNN's algorithm search (fixed for the backend's life:
  // kernels read them when a Plan is compiled).
  const BackendOptions& options() const { return options_; }
  // cuDNN's algorithm choice per convolution problem (direction, type, sizes), so a timed search
  // runs once per distinct problem rather than once per node of every Plan.
  struct ConvChoice {
    int algorithm = 0;
    size_t workspace_bytes = 0;
  };
  std::map<std::string, ConvChoice>& conv_choices() { return conv_choices_; }

 private:
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  BackendOptions options_;
  std::map<std::string, ConvChoice> conv_choices_;
  std::shared_ptr<CachingAllocator> allocator_;
};

// The CUDA backend behind a kernel's Backend& (throws if it is another backend).
CudaBackend& cuda_backend(Backend& backend);

// Whether this process can use a CUDA device (false without a driver or a GPU).
bool cuda_device_available();

}  // namespace advmoe
