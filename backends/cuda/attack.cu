// The PGD step and random start on the GPU: L-inf elementwise, L2 one block per sample (block_sum
// gives the sample's gradient and perturbation norms in a fixed order).
#include <cmath>

#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"
#include "runtime/philox.h"

namespace advmoe {

namespace {

template <typename T>
__global__ void linf_step_kernel(const T* x, const T* x0, const T* g, T* out, int64_t n, T eps,
                                 T alpha) {
  ADVMOE_GRID_STRIDE(i, n) {
    T sign = g[i] > 0 ? T(1) : (g[i] < 0 ? T(-1) : T(0));
    T moved = min(max(x[i] + alpha * sign, x0[i] - eps), x0[i] + eps);
    out[i] = min(max(moved, T(0)), T(1));
  }
}

// One block of kThreads threads per sample.
template <typename T>
__global__ void l2_step_kernel(const T* x, const T* x0, const T* g, T* out, int64_t per, double eps,
                               double alpha) {
  const int64_t begin = blockIdx.x * per;
  double local = 0;
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x)
    local += static_cast<double>(g[begin + i]) * g[begin + i];
  double g_norm = block_sum(local);
  // A zero gradient (e.g. a saturated loss) leaves the sample where it is.
  T step = g_norm > 0 ? static_cast<T>(alpha / sqrt(g_norm)) : T(0);
  local = 0;
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x) {
    T moved = x[begin + i] + step * g[begin + i];
    out[begin + i] = moved;
    double d = moved - x0[begin + i];
    local += d * d;
  }
  double d_norm = sqrt(block_sum(local));
  T shrink = d_norm > eps ? static_cast<T>(eps / d_norm) : T(1);
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x) {
    T projected = x0[begin + i] + shrink * (out[begin + i] - x0[begin + i]);
    out[begin + i] = min(max(projected, T(0)), T(1));
  }
}

// The Philox subsequence in the key's two words (read on the device: no host round trip).
__device__ inline uint64_t subsequence_of(const int32_t* key) {
  return static_cast<uint64_t>(static_cast<uint32_t>(key[0])) |
         (static_cast<uint64_t>(static_cast<uint32_t>(key[1])) << 32);
}

// Random starts with the CPU loops' formulas (backends/host/attack_loops.cpp) and draws.
template <typename T>
__global__ void start_elementwise_kernel(const T* x0, const int32_t* key, T* x, int64_t n,
                                         bool trades, T eps, uint64_t seed) {
  const uint64_t sub = subsequence_of(key);
  ADVMOE_GRID_STRIDE(i, n) {
    T moved = trades ? x0[i] + T(0.001f) * static_cast<T>(philox_normal(seed, sub, i))
                     : x0[i] + eps * (2 * static_cast<T>(philox_uniform(seed, sub, i)) - 1);
    x[i] = min(max(moved, T(0)), T(1));
  }
}

// L2: one block per sample; the direction's norm by block_sum.
template <typename T>
__global__ void start_l2_kernel(const T* x0, const int32_t* key, T* x, int64_t n, int64_t per,
                                T eps, uint64_t seed) {
  const uint64_t sub = subsequence_of(key);
  const int64_t s = blockIdx.x, begin = s * per;
  double local = 0;
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x) {
    T d = static_cast<T>(philox_normal(seed, sub, begin + i));
    x[begin + i] = d;
    local += static_cast<double>(d) * d;
  }
  double norm = sqrt(block_sum(local));
  double radius = eps * static_cast<T>(philox_uniform(seed, sub, n + s));
  T scale = static_cast<T>(radius / max(norm, 1e-12));
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x)
    x[begin + i] = min(max(x0[begin + i] + scale * x[begin + i], T(0)), T(1));
}

}  // namespace

void add_cuda_attack(KernelTable& t) {
  add_cuda_float(t, Op::PgdStart, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const PgdStartAttrs attrs = std::get<PgdStartAttrs>(a.node.attrs);
    const T* x0 = a.inputs[0].data<T>();
    const int32_t* key = a.inputs[1].data<int32_t>();
    T* x = a.outputs[0].data<T>();
    const int64_t n = a.outputs[0].numel(), batch = a.outputs[0].shape()[0];
    return stream_kernel(a, [=](cudaStream_t s) {
      const T eps = static_cast<T>(attrs.epsilon);
      if (attrs.kind == PgdStartAttrs::Uniform && attrs.l2)
        start_l2_kernel<<<static_cast<unsigned>(batch), kThreads, 0, s>>>(x0, key, x, n, n / batch,
                                                                          eps, attrs.seed);
      else
        start_elementwise_kernel<<<blocks_for(n), kThreads, 0, s>>>(
            x0, key, x, n, attrs.kind == PgdStartAttrs::Trades, eps, attrs.seed);
    });
  });
  add_cuda_float(t, Op::PgdStep, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const PgdStepAttrs attrs = std::get<PgdStepAttrs>(a.node.attrs);
    const T *x = a.inputs[0].data<T>(), *x0 = a.inputs[1].data<T>(), *g = a.inputs[2].data<T>();
    T* out = a.outputs[0].data<T>();
    const int64_t n = a.outputs[0].numel(), batch = a.outputs[0].shape()[0];
    return stream_kernel(a, [=](cudaStream_t s) {
      if (attrs.l2)
        l2_step_kernel<<<static_cast<unsigned>(batch), kThreads, 0, s>>>(
            x, x0, g, out, n / batch, attrs.epsilon, attrs.step_size);
      else
        linf_step_kernel<<<blocks_for(n), kThreads, 0, s>>>(
            x, x0, g, out, n, static_cast<T>(attrs.epsilon), static_cast<T>(attrs.step_size));
    });
  });
}

}  // namespace advmoe
