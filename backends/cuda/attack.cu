// The PGD step and random start on the GPU: L-inf elementwise, L2 one block per sample (block_sum
// gives the sample's gradient and perturbation norms in a fixed order).
#include <cmath>

#include "backends/attack_math.h"
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
                                         bool trades, T eps, uint64_t seed, int64_t first) {
  const uint64_t sub = subsequence_of(key);
  ADVMOE_GRID_STRIDE(i, n) {
    T moved = trades ? x0[i] + T(0.001f) * static_cast<T>(philox_normal(seed, sub, first + i))
                     : x0[i] + eps * (2 * static_cast<T>(philox_uniform(seed, sub, first + i)) - 1);
    x[i] = min(max(moved, T(0)), T(1));
  }
}

// L2: one block per sample; the direction's norm by block_sum.
template <typename T>
__global__ void start_l2_kernel(const T* x0, const int32_t* key, T* x, int64_t per, T eps,
                                uint64_t seed, int64_t first_row, int64_t global_n) {
  const uint64_t sub = subsequence_of(key);
  const int64_t s = blockIdx.x, begin = s * per;
  double local = 0;
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x) {
    T d = static_cast<T>(philox_normal(seed, sub, first_row * per + begin + i));
    x[begin + i] = d;
    local += static_cast<double>(d) * d;
  }
  double norm = sqrt(block_sum(local));
  double radius = eps * static_cast<T>(philox_uniform(seed, sub, global_n + first_row + s));
  T scale = static_cast<T>(radius / max(norm, 1e-12));
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x)
    x[begin + i] = min(max(x0[begin + i] + scale * x[begin + i], T(0)), T(1));
}

// APGD's and FAB's steps: one thread per sample with the host loops' arithmetic
// (backends/attack_math.h); the per-sample work is a few passes over one image, small next to
// the forward and backward pass each step follows.
template <typename T>
__global__ void apgd_step_kernel(const T* x, const T* x_prev, const T* x0, const T* g, const T* eta,
                                 const T* alpha, T* out, int64_t batch, int64_t per, double eps,
                                 bool l2) {
  ADVMOE_GRID_STRIDE(s, batch) {
    attack_math::apgd_step_sample(x + s * per, x_prev + s * per, x0 + s * per, g + s * per,
                                  out + s * per, per, eps, static_cast<double>(eta[s]),
                                  static_cast<double>(alpha[0]), l2);
  }
}

template <typename T>
__global__ void fab_step_kernel(const T* x, const T* x0, const T* w, const T* f, T* out,
                                int64_t batch, int64_t per, FabStepAttrs attrs) {
  ADVMOE_GRID_STRIDE(s, batch) {
    attack_math::fab_step_sample(x + s * per, x0 + s * per, w + s * per, static_cast<double>(f[s]),
                                 out + s * per, per, attrs);
  }
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
      // Draw numbers of the global batch (graph/attrs.h PgdStartAttrs).
      const int64_t per = n / batch;
      const int64_t global_n = (attrs.total_rows > 0 ? attrs.total_rows : batch) * per;
      if (attrs.kind == PgdStartAttrs::Uniform && attrs.l2)
        start_l2_kernel<<<static_cast<unsigned>(batch), kThreads, 0, s>>>(
            x0, key, x, per, eps, attrs.seed, attrs.first_row, global_n);
      else
        start_elementwise_kernel<<<blocks_for(n), kThreads, 0, s>>>(
            x0, key, x, n, attrs.kind == PgdStartAttrs::Trades, eps, attrs.seed,
            attrs.first_row * per);
    });
  });
  add_cuda_float(t, Op::ApgdStep, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const ApgdStepAttrs attrs = std::get<ApgdStepAttrs>(a.node.attrs);
    const T *x = a.inputs[0].data<T>(), *x_prev = a.inputs[1].data<T>(),
            *x0 = a.inputs[2].data<T>(), *g = a.inputs[3].data<T>(), *eta = a.inputs[4].data<T>(),
            *alpha = a.inputs[5].data<T>();
    T* out = a.outputs[0].data<T>();
    const int64_t batch = a.outputs[0].shape()[0], per = a.outputs[0].numel() / batch;
    return stream_kernel(a, [=](cudaStream_t s) {
      apgd_step_kernel<<<blocks_for(batch), kThreads, 0, s>>>(x, x_prev, x0, g, eta, alpha, out,
                                                              batch, per, attrs.epsilon, attrs.l2);
    });
  });
  add_cuda_float(t, Op::FabStep, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const FabStepAttrs attrs = std::get<FabStepAttrs>(a.node.attrs);
    const T *x = a.inputs[0].data<T>(), *x0 = a.inputs[1].data<T>(), *w = a.inputs[2].data<T>(),
            *f = a.inputs[3].data<T>();
    T* out = a.outputs[0].data<T>();
    const int64_t batch = a.outputs[0].shape()[0], per = a.outputs[0].numel() / batch;
    return stream_kernel(a, [=](cudaStream_t s) {
      fab_step_kernel<<<blocks_for(batch), kThreads, 0, s>>>(x, x0, w, f, out, batch, per, attrs);
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
