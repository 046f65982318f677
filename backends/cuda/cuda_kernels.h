// Shared pieces of the CUDA kernels: registration entry points per op family, launch geometry
// and a Kernel whose run() enqueues work on the backend's stream.
#pragma once

#include <algorithm>
#include <functional>

#include "backends/cuda/cuda_backend.h"
#include "backends/host/dispatch.h"
#include "backends/kernel_registry.h"

namespace advmoe {

void add_cuda_elementwise(KernelTable& table);
void add_cuda_losses(KernelTable& table);
void add_cuda_channels(KernelTable& table);
void add_cuda_routing(KernelTable& table);
void add_cuda_linear(KernelTable& table);
void add_cuda_pooling(KernelTable& table);
void add_cuda_batch_norm(KernelTable& table);
void add_cuda_conv(KernelTable& table);
void add_cuda_expert_conv(KernelTable& table);
void add_cuda_attack(KernelTable& table);
void add_cuda_optimizer(KernelTable& table);
void add_cuda_sparse(KernelTable& table);
void add_cuda_collective(KernelTable& table);

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

// Registers the "cuda" kernel of `op`; its element type is that of input `dtype_input`, or of
// output 0 when dtype_input < 0 (fill has no input).
template <typename Make>
void add_cuda_float(KernelTable& t, Op op, int dtype_input, Make make) {
  put(t, op, [make, dtype_input](const KernelArgs& a) {
    const Tensor& t = dtype_input < 0 ? a.outputs[0] : a.inputs[static_cast<size_t>(dtype_input)];
    return by_float_type(t.dtype(), [&](auto tag) { return make(tag, a); });
  });
}

// A grid-stride loop over [0, n): any grid size covers any n.
#define ADVMOE_GRID_STRIDE(i, n)                                                         \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

#ifdef __CUDACC__
// Sum of one double per thread over a block of kThreads threads, in a fixed tree order
// (deterministic); every thread gets the total. The leading barrier makes repeated calls safe.
__device__ inline double block_sum(double value) {
  __shared__ double partial[kThreads];
  __syncthreads();
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  return partial[0];
}

// A forward conv's epilogue, y [.., c] channels innermost: the bias (may be null), then the ReLU
// the eval-mode fusion folded in (compile/eval_fusion.h). conv2d and expert_conv use it.
template <typename T>
__global__ void conv_epilogue_kernel(T* y, const T* bias, bool relu, int64_t total, int64_t c) {
  ADVMOE_GRID_STRIDE(i, total) {
    T v = y[i];
    if (bias) v += bias[i % c];
    if (relu) v = v > T(0) ? v : T(0);
    y[i] = v;
  }
}
#endif

inline std::unique_ptr<Kernel> stream_kernel(const KernelArgs& a,
                                             std::function<void(cudaStream_t)> launch) {
  return std::make_unique<StreamKernel>(a.backend, std::move(launch));
}

}  // namespace advmoe
