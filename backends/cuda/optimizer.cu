// The SGD update node on CUDA: PyTorch's rule, one thread per element, on the backend's stream;
// the learning rate is read on the device from the node's scalar input, so a schedule costs no
// host synchronization.
#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

template <typename T>
__global__ void sgd_kernel(T* p, const T* g, T* buf, const T* lr_input, T* applied, int64_t n,
                           T momentum, T weight_decay, bool nesterov) {
  const T lr = lr_input[0];
  ADVMOE_GRID_STRIDE(i, n) {
    T d = g[i] + weight_decay * p[i];
    buf[i] = momentum * buf[i] + d;
    p[i] -= lr * (nesterov ? d + momentum * buf[i] : buf[i]);
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) applied[0] = lr;
}

}  // namespace

void add_cuda_optimizer(KernelTable& t) {
  add_cuda_float(t, Op::SgdUpdate, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const SgdAttrs s = std::get<SgdAttrs>(a.node.attrs);
    T* p = a.inputs[0].data<T>();
    const T* g = a.inputs[1].data<T>();
    T* buf = a.inputs[2].data<T>();
    const T* lr = a.inputs[3].data<T>();
    T* applied = a.outputs[0].data<T>();
    const int64_t n = a.inputs[0].numel();
    return stream_kernel(a, [=](cudaStream_t stream) {
      sgd_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
          p, g, buf, lr, applied, n, static_cast<T>(s.momentum), static_cast<T>(s.weight_decay),
          s.nesterov);
    });
  });
}

}  // namespace advmoe
