// The SGD update on CUDA: PyTorch's rule, one thread per element, on the backend's stream.
#include "ops/cuda/cuda_kernels.h"

namespace advmoe {

namespace {

__global__ void sgd_kernel(float* p, const float* g, float* buf, int64_t n, float lr,
                           float momentum, float weight_decay, bool nesterov) {
  ADVMOE_GRID_STRIDE(i, n) {
    float d = g[i] + weight_decay * p[i];
    buf[i] = momentum * buf[i] + d;
    p[i] -= lr * (nesterov ? d + momentum * buf[i] : buf[i]);
  }
}

}  // namespace

void launch_sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, float lr,
                       float momentum, float weight_decay, bool nesterov, cudaStream_t stream) {
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream>>>(param, grad, momentum_buffer, n, lr, momentum,
                                                     weight_decay, nesterov);
}

}  // namespace advmoe
