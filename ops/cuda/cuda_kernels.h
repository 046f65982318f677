// Shared pieces of the CUDA kernels: registration entry points per op family, launch geometry
// and a Kernel whose run() enqueues work on the backend's stream.
#pragma once

#include <algorithm>
#include <functional>

#include "ops/cuda/cuda_backend.h"
#include "ops/kernel.h"
#include "ops/reference/dispatch.h"

namespace advmoe {

void register_cuda_elementwise(KernelRegistry& registry);
void register_cuda_losses(KernelRegistry& registry);
void register_cuda_channels(KernelRegistry& registry);
void register_cuda_routing(KernelRegistry& registry);
void register_cuda_linear(KernelRegistry& registry);
void register_cuda_pooling(KernelRegistry& registry);
void register_cuda_batch_norm(KernelRegistry& registry);
void register_cuda_conv(KernelRegistry& registry);

// The SGD update of one parameter on `stream` (CudaBackend::sgd_update).
void launch_sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, float lr,
                       float momentum, float weight_decay, bool nesterov, cudaStream_t stream);

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (capped: each thread then loops).
inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 4096));
}

// Enqueues `launch(stream)` on the stream of the CUDA backend the kernel was compiled for, and
// checks that the launch was accepted.
class StreamKernel : public Kernel {
 public:
  StreamKernel(Backend& backend, std::function<void(cudaStream_t)> launch)
      : stream_(cuda_backend(backend).stream()), launch_(std::move(launch)) {}
  void run() override {
    launch_(stream_);
    ADVMOE_CUDA_CHECK(cudaGetLastError());
  }

 private:
  cudaStream_t stream_;
  std::function<void(cudaStream_t)> launch_;
};

inline std::unique_ptr<Kernel> stream_kernel(const KernelArgs& a,
                                             std::function<void(cudaStream_t)> launch) {
  return std::make_unique<StreamKernel>(a.backend, std::move(launch));
}

}  // namespace advmoe
