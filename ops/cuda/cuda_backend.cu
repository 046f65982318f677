// The CUDA backend: device memory, host<->device copies, and the cuDNN/cuBLAS handles bound to
// one stream. Kernels for graph nodes arrive with the GPU issue; until then compiling a Plan on
// this backend fails with "backend 'cuda' has no kernel for op ...".
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>

#include "ops/kernel.h"
#include "runtime/backend.h"
#include "runtime/error.h"

namespace advmoe {

namespace {

#define ADVMOE_CUDA_CHECK(call)                                        \
  do {                                                                 \
    cudaError_t advmoe_status_ = (call);                               \
    ADVMOE_CHECK(advmoe_status_ == cudaSuccess,                        \
                 #call << ": " << cudaGetErrorString(advmoe_status_)); \
  } while (0)

class CudaBackend : public Backend {
 public:
  CudaBackend() {
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    ADVMOE_CHECK(status == cudaSuccess && count > 0,
                 "no CUDA device available (" << cudaGetErrorString(status) << ")");
    ADVMOE_CUDA_CHECK(cudaStreamCreate(&stream_));
    ADVMOE_CHECK(cudnnCreate(&cudnn_) == CUDNN_STATUS_SUCCESS, "cudnnCreate failed");
    ADVMOE_CHECK(cudnnSetStream(cudnn_, stream_) == CUDNN_STATUS_SUCCESS, "cudnnSetStream failed");
    ADVMOE_CHECK(cublasCreate(&cublas_) == CUBLAS_STATUS_SUCCESS, "cublasCreate failed");
    ADVMOE_CHECK(cublasSetStream(cublas_, stream_) == CUBLAS_STATUS_SUCCESS,
                 "cublasSetStream failed");
  }
  ~CudaBackend() override {
    cublasDestroy(cublas_);
    cudnnDestroy(cudnn_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda"; }
  Device device() const override { return Device{DeviceKind::CUDA, 0}; }

  Tensor allocate(const Shape& shape, DType dtype) override {
    size_t bytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
    void* ptr = nullptr;
    ADVMOE_CUDA_CHECK(cudaMalloc(&ptr, bytes ? bytes : 1));
    ADVMOE_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, stream_));
    auto storage = std::make_shared<Storage>(ptr, bytes, device(), [](void* p) { cudaFree(p); });
    return Tensor(storage, 0, shape, dtype);
  }

  void copy(const Tensor& dst, const Tensor& src) override {
    ADVMOE_CHECK(dst.bytes() == src.bytes() && dst.dtype() == src.dtype(),
                 "cuda copy " << src.describe() << " -> " << dst.describe() << ": mismatch");
    ADVMOE_CUDA_CHECK(
        cudaMemcpyAsync(dst.raw(), src.raw(), src.bytes(), cudaMemcpyDefault, stream_));
    ADVMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void synchronize() override { ADVMOE_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
};

}  // namespace

std::shared_ptr<Backend> make_cuda_backend() {
  return std::make_shared<CudaBackend>();
}

void register_cuda_kernels(KernelRegistry& registry) {
  (void)registry;  // no CUDA kernels yet (issue: GPU backend)
}

}  // namespace advmoe
