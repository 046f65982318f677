// The PGD step's and random start's loops, APGD's and FAB's steps, shared by both CPU backends
// (serial for "reference", OpenMP-parallel for "onednn"). L2 norms accumulate in double.
#include <algorithm>
#include <cmath>

#include "backends/attack_math.h"
#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"
#include "graph/attrs.h"
#include "runtime/philox.h"

namespace advmoe {

namespace {

template <typename T>
void linf_step(const T* x, const T* x0, const T* g, T* out, int64_t n, T eps, T alpha,
               bool parallel) {
#pragma omp parallel for if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    T sign = g[i] > 0 ? T(1) : (g[i] < 0 ? T(-1) : T(0));
    out[i] = std::clamp(std::clamp(x[i] + alpha * sign, x0[i] - eps, x0[i] + eps), T(0), T(1));
  }
}

template <typename T>
void l2_step(const T* x, const T* x0, const T* g, T* out, int64_t batch, int64_t per, double eps,
             double alpha, bool parallel) {
#pragma omp parallel for if (parallel)
  for (int64_t s = 0; s < batch; ++s) {
    const int64_t begin = s * per, end = begin + per;
    double g_norm = 0, d_norm = 0;
    for (int64_t i = begin; i < end; ++i) g_norm += static_cast<double>(g[i]) * g[i];
    // A zero gradient (e.g. a saturated loss) leaves the sample where it is.
    T step = g_norm > 0 ? static_cast<T>(alpha / std::sqrt(g_norm)) : T(0);
    for (int64_t i = begin; i < end; ++i) {
      out[i] = x[i] + step * g[i];
      double d = out[i] - x0[i];
      d_norm += d * d;
    }
    d_norm = std::sqrt(d_norm);
    T shrink = d_norm > eps ? static_cast<T>(eps / d_norm) : T(1);
    for (int64_t i = begin; i < end; ++i)
      out[i] = std::clamp(x0[i] + shrink * (out[i] - x0[i]), T(0), T(1));
  }
}

uint64_t subsequence_of(const int32_t* key) {
  return static_cast<uint64_t>(static_cast<uint32_t>(key[0])) |
         (static_cast<uint64_t>(static_cast<uint32_t>(key[1])) << 32);
}

template <typename T>
void random_start(const PgdStartAttrs& a, const T* x0, const int32_t* key, T* x, int64_t n,
                  int64_t batch, bool parallel) {
  const uint64_t seed = a.seed, sub = subsequence_of(key);
  const T eps = static_cast<T>(a.epsilon);
  // Draw numbers of the global batch (attrs.h): element i is global element first + i.
  const int64_t per = n / batch, first = a.first_row * per;
  const int64_t global_n = (a.total_rows > 0 ? a.total_rows : batch) * per;
  if (a.kind == PgdStartAttrs::Trades) {
#pragma omp parallel for if (parallel)
    for (int64_t i = 0; i < n; ++i)
      x[i] = std::clamp(x0[i] + T(0.001f) * static_cast<T>(philox_normal(seed, sub, first + i)),
                        T(0), T(1));
    return;
  }
  if (!a.l2) {
#pragma omp parallel for if (parallel)
    for (int64_t i = 0; i < n; ++i)
      x[i] = std::clamp(
          x0[i] + eps * (2 * static_cast<T>(philox_uniform(seed, sub, first + i)) - 1), T(0), T(1));
    return;
  }
  // L2: a uniformly random direction, radius eps * u with u uniform in [0, 1).
#pragma omp parallel for if (parallel)
  for (int64_t s = 0; s < batch; ++s) {
    double norm = 0;
    for (int64_t i = s * per; i < (s + 1) * per; ++i) {
      x[i] = static_cast<T>(philox_normal(seed, sub, first + i));
      norm += static_cast<double>(x[i]) * x[i];
    }
    double radius = eps * static_cast<T>(philox_uniform(seed, sub, global_n + a.first_row + s));
    T scale = static_cast<T>(radius / std::max(std::sqrt(norm), 1e-12));
    for (int64_t i = s * per; i < (s + 1) * per; ++i)
      x[i] = std::clamp(x0[i] + scale * x[i], T(0), T(1));
  }
}

std::unique_ptr<Kernel> pgd_step_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.outputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const PgdStepAttrs attrs = std::get<PgdStepAttrs>(a.node.attrs);
    const T *x = a.inputs[0].data<T>(), *x0 = a.inputs[1].data<T>(), *g = a.inputs[2].data<T>();
    T* out = a.outputs[0].data<T>();
    const int64_t n = a.outputs[0].numel(), batch = a.outputs[0].shape()[0];
    return loop_kernel([=] {
      if (attrs.l2)
        l2_step(x, x0, g, out, batch, n / batch, attrs.epsilon, attrs.step_size, parallel);
      else
        linf_step(x, x0, g, out, n, static_cast<T>(attrs.epsilon), static_cast<T>(attrs.step_size),
                  parallel);
    });
  });
}

std::unique_ptr<Kernel> pgd_start_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.outputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const PgdStartAttrs attrs = std::get<PgdStartAttrs>(a.node.attrs);
    const T* x0 = a.inputs[0].data<T>();
    const int32_t* key = a.inputs[1].data<int32_t>();
    T* x = a.outputs[0].data<T>();
    const int64_t n = a.outputs[0].numel(), batch = a.outputs[0].shape()[0];
    return loop_kernel([=] { random_start(attrs, x0, key, x, n, batch, parallel); });
  });
}

// APGD's and FAB's steps: one sample at a time (backends/attack_math.h), OpenMP over samples.
std::unique_ptr<Kernel> apgd_step_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.outputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const ApgdStepAttrs attrs = std::get<ApgdStepAttrs>(a.node.attrs);
    const T *x = a.inputs[0].data<T>(), *x_prev = a.inputs[1].data<T>(),
            *x0 = a.inputs[2].data<T>(), *g = a.inputs[3].data<T>(), *eta = a.inputs[4].data<T>(),
            *alpha = a.inputs[5].data<T>();
    T* out = a.outputs[0].data<T>();
    const int64_t batch = a.outputs[0].shape()[0], per = a.outputs[0].numel() / batch;
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t s = 0; s < batch; ++s)
        attack_math::apgd_step_sample(x + s * per, x_prev + s * per, x0 + s * per, g + s * per,
                                      out + s * per, per, attrs.epsilon, eta[s], alpha[0],
                                      attrs.l2);
    });
  });
}

std::unique_ptr<Kernel> fab_step_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.outputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const FabStepAttrs attrs = std::get<FabStepAttrs>(a.node.attrs);
    const T *x = a.inputs[0].data<T>(), *x0 = a.inputs[1].data<T>(), *w = a.inputs[2].data<T>(),
            *f = a.inputs[3].data<T>();
    T* out = a.outputs[0].data<T>();
    const int64_t batch = a.outputs[0].shape()[0], per = a.outputs[0].numel() / batch;
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t s = 0; s < batch; ++s)
        attack_math::fab_step_sample(x + s * per, x0 + s * per, w + s * per,
                                     static_cast<double>(f[s]), out + s * per, per, attrs);
    });
  });
}

}  // namespace

void add_attack_loops(KernelTable& t, bool parallel) {
  put(t, Op::PgdStep, bind_parallel(pgd_step_kernel, parallel));
  put(t, Op::PgdStart, bind_parallel(pgd_start_kernel, parallel));
  put(t, Op::ApgdStep, bind_parallel(apgd_step_kernel, parallel));
  put(t, Op::FabStep, bind_parallel(fab_step_kernel, parallel));
}

}  // namespace advmoe
