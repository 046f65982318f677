// The MoE routing ops on CUDA, with the semantics of backends/reference/moe.cpp: top-1 expert
// choice (lowest index among ties, gate 1 with a straight-through gradient), the per-sample channel
// gate, and the load-balancing loss E * sum_k f_k * mean_i p_ik (f_k: share of samples routed to
// expert k). Batches are small, so the loss runs in one block, in a fixed order.
#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

template <typename T>
__global__ void top1_kernel(const T* logits, int32_t* route, T* gate, int64_t n, int64_t e) {
  ADVMOE_GRID_STRIDE(i, n) {
    int32_t best = 0;
    for (int64_t k = 1; k < e; ++k)
      if (logits[i * e + k] > logits[i * e + best]) best = static_cast<int32_t>(k);
    route[i] = best;
    gate[i] = T(1);
  }
}

template <typename T>
__global__ void top1_backward_kernel(const T* dgate, const int32_t* route, T* dlogits, int64_t n,
                                     int64_t e) {
  ADVMOE_GRID_STRIDE(i, n * e) dlogits[i] = (i % e) == route[i / e] ? dgate[i / e] : T(0);
}

template <typename T>
__global__ void gate_kernel(const T* y, const T* gate, T* z, int64_t total, int64_t row) {
  ADVMOE_GRID_STRIDE(i, total) z[i] = gate[i / row] * y[i];
}

// One block per sample: dgate_i = sum_k dz_ik * y_ik in double.
template <typename T>
__global__ void gate_backward_kernel(const T* dz, const T* y, T* dgate, int64_t row) {
  const int64_t i = blockIdx.x;
  double acc = 0;
  for (int64_t k = threadIdx.x; k < row; k += kThreads)
    acc += static_cast<double>(dz[i * row + k]) * y[i * row + k];
  double total = block_sum(acc);
  if (threadIdx.x == 0) dgate[i] = static_cast<T>(total);
}

// Softmax of row i of z into p (e <= kMaxExperts).
constexpr int kMaxExperts = 64;

template <typename T>
__device__ void softmax_row(const T* z, int64_t e, double* p) {
  double m = z[0];
  for (int64_t k = 1; k < e; ++k) m = fmax(m, static_cast<double>(z[k]));
  double s = 0;
  for (int64_t k = 0; k < e; ++k) s += (p[k] = exp(static_cast<double>(z[k]) - m));
  for (int64_t k = 0; k < e; ++k) p[k] /= s;
}

// One block: f from the routes, then the loss (forward) or dz (backward, when dz != nullptr).
template <typename T>
__global__ void balance_kernel(const T* z, const int32_t* route, int64_t n, int64_t e, T* loss,
                               const T* g, T* dz) {
  __shared__ int counts[kMaxExperts];
  for (int64_t k = threadIdx.x; k < e; k += kThreads) counts[k] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += kThreads) atomicAdd(&counts[route[i]], 1);
  __syncthreads();
  double p[kMaxExperts];
  double acc = 0;
  const double scale = dz ? g[0] * static_cast<double>(e) / static_cast<double>(n) : 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    softmax_row(z + i * e, e, p);
    double fp = 0;
    for (int64_t k = 0; k < e; ++k) fp += counts[k] / static_cast<double>(n) * p[k];
    acc += fp;
    if (dz)  // dL/dz_ij = E/N * p_ij * (f_j - sum_k f_k p_ik)
      for (int64_t j = 0; j < e; ++j)
        dz[i * e + j] = static_cast<T>(scale * p[j] * (counts[j] / static_cast<double>(n) - fp));
  }
  if (dz) return;
  double total = block_sum(acc);
  if (threadIdx.x == 0) loss[0] = static_cast<T>(static_cast<double>(e) * total / n);
}

}  // namespace

void add_cuda_routing(KernelTable& t) {
  add_cuda_float(t, Op::Top1, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t n = a.inputs[0].shape()[0], e = a.inputs[0].shape()[1];
    const T* logits = a.inputs[0].data<T>();
    int32_t* route = a.outputs[0].data<int32_t>();
    T* gate = a.outputs[1].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      top1_kernel<<<blocks_for(n), kThreads, 0, s>>>(logits, route, gate, n, e);
    });
  });
  add_cuda_float(t, Op::Top1Backward, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t n = a.outputs[0].shape()[0], e = a.outputs[0].shape()[1];
    const T* dgate = a.inputs[0].data<T>();
    const int32_t* route = a.inputs[1].data<int32_t>();
    T* dlogits = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      top1_backward_kernel<<<blocks_for(n * e), kThreads, 0, s>>>(dgate, route, dlogits, n, e);
    });
  });
  add_cuda_float(t, Op::ChannelGate, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t total = a.inputs[0].numel(), row = total / a.inputs[0].shape()[0];
    const T *y = a.inputs[0].data<T>(), *gate = a.inputs[1].data<T>();
    T* z = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      gate_kernel<<<blocks_for(total), kThreads, 0, s>>>(y, gate, z, total, row);
    });
  });
  add_cuda_float(t, Op::ChannelGateBackward, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t n = a.inputs[0].shape()[0], row = a.inputs[0].numel() / n;
    const T *dz = a.inputs[0].data<T>(), *y = a.inputs[1].data<T>();
    T* dgate = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      gate_backward_kernel<<<static_cast<unsigned>(n), kThreads, 0, s>>>(dz, y, dgate, row);
    });
  });
  add_cuda_float(t, Op::BalanceLoss, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t n = a.inputs[0].shape()[0], e = a.inputs[0].shape()[1];
    ADVMOE_CHECK(e <= kMaxExperts, "balance_loss '" << a.node.name << "': the CUDA kernel supports "
                                                    << kMaxExperts << " experts, got " << e);
    const T* z = a.inputs[0].data<T>();
    const int32_t* route = a.inputs[1].data<int32_t>();
    T* loss = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      balance_kernel<<<1, kThreads, 0, s>>>(z, route, n, e, loss, static_cast<const T*>(nullptr),
                                            static_cast<T*>(nullptr));
    });
  });
  add_cuda_float(t, Op::BalanceLossBackward, 1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t n = a.inputs[1].shape()[0], e = a.inputs[1].shape()[1];
    ADVMOE_CHECK(e <= kMaxExperts, "balance_loss '" << a.node.name << "': the CUDA kernel supports "
                                                    << kMaxExperts << " experts, got " << e);
    const T *g = a.inputs[0].data<T>(), *z = a.inputs[1].data<T>();
    const int32_t* route = a.inputs[2].data<int32_t>();
    T* dz = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      balance_kernel<<<1, kThreads, 0, s>>>(z, route, n, e, static_cast<T*>(nullptr), g, dz);
    });
  });
}

}  // namespace advmoe
