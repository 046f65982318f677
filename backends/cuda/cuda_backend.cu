// The CUDA backend's memory, copies, handles and kernel registration.
#include "backends/cuda/cuda_backend.h"

#include "backends/cuda/cuda_kernels.h"
#include "backends/kernel_registry.h"

namespace advmoe {

namespace {

constexpr size_t kAlignment = 512;

size_t rounded(size_t bytes) {
  return (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
}

}  // namespace

CachingAllocator::~CachingAllocator() {
  for (auto& [size, ptr] : free_) cudaFree(ptr);
}

void* CachingAllocator::allocate(size_t bytes) {
  size_t size = rounded(bytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Best fit among cached blocks no larger than twice the request, so big blocks are not
    // wasted on small tensors.
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= 2 * size) {
      void* ptr = it->second;
      cached_bytes_ -= it->first;
      free_.erase(it);
      return ptr;
    }
  }
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, size);
  if (status != cudaSuccess) {
    // Out of memory with blocks cached: give them back to the driver and try once more.
    cudaGetLastError();
    std::lock_guard<std::mutex> lock(mutex_);
    ADVMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (auto& [s, p] : free_) cudaFree(p);
    free_.clear();
    cached_bytes_ = 0;
    ADVMOE_CUDA_CHECK(cudaMalloc(&ptr, size));
  }
  return ptr;
}

void CachingAllocator::release(void* ptr, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t size = rounded(bytes);
  free_.emplace(size, ptr);
  cached_bytes_ += size;
}

CudaBackend::CudaBackend(const BackendOptions& options) : options_(options) {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  ADVMOE_CHECK(status == cudaSuccess && count > 0,
               "the cuda backend needs a GPU: "
                   << (status == cudaSuccess ? "no CUDA device found"
                                             : std::string("cudaGetDeviceCount failed: ") +
                                                   cudaGetErrorString(status)));
  ADVMOE_CUDA_CHECK(cudaSetDevice(options.device_index % count));
  ADVMOE_CUDA_CHECK(cudaStreamCreate(&stream_));
  ADVMOE_CUDNN_CHECK(cudnnCreate(&cudnn_));
  ADVMOE_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  ADVMOE_CUBLAS_CHECK(cublasCreate(&cublas_));
  ADVMOE_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  // cuBLAS: TF32 tensor cores only when asked; otherwise pedantic FP32 (comparable with the CPU).
  ADVMOE_CUBLAS_CHECK(
      cublasSetMathMode(cublas_, options.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
  allocator_ = std::make_shared<CachingAllocator>(stream_);
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(stream_);
  cublasDestroy(cublas_);
  cudnnDestroy(cudnn_);
  cudaStreamDestroy(stream_);
}

Tensor CudaBackend::allocate(const Shape& shape, DType dtype) {
  size_t bytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  void* ptr = allocator_->allocate(bytes);
  ADVMOE_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, stream_));
  // The storage keeps the allocator alive: tensors may outlive the backend object.
  std::shared_ptr<CachingAllocator> allocator = allocator_;
  auto storage = std::make_shared<Storage>(
      ptr, bytes, device(), [allocator, bytes](void* p) { allocator->release(p, bytes); });
  return Tensor(storage, 0, shape, dtype);
}

void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  ADVMOE_CHECK(dst.bytes() == src.bytes() && dst.dtype() == src.dtype(),
               "cuda copy " << src.describe() << " -> " << dst.describe() << ": mismatch");
  ADVMOE_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.bytes(), cudaMemcpyDefault, stream_));
  // Host memory may be read or reused as soon as copy() returns; device-to-device copies stay
  // queued on the stream like any kernel (the PGD loop makes one per step).
  bool touches_host = dst.device().kind == DeviceKind::CPU || src.device().kind == DeviceKind::CPU;
  if (touches_host) ADVMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::synchronize() {
  ADVMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

CudaBackend& cuda_backend(Backend& backend) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  ADVMOE_CHECK(cuda != nullptr, "a CUDA kernel was given backend '" << backend.name() << "'");
  return *cuda;
}

bool cuda_device_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return false;
  }
  return count > 0;
}

std::shared_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  return std::make_shared<CudaBackend>(options);
}

}  // namespace advmoe
