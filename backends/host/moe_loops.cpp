// MoE kernels shared by both CPU backends as host loops: top1 (+ straight-through backward),
// channel_gate (+ backward) and the load-balancing loss (+ backward).
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"

namespace advmoe {

namespace {

// Softmax of each row into p (scratch [N, E]) and the routed fractions f [E].
template <typename T>
void balance_terms(const T* z, const int32_t* route, int64_t n, int64_t e, std::vector<double>& p,
                   std::vector<double>& f) {
  std::fill(f.begin(), f.end(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double m = z[i * e];
    for (int64_t k = 1; k < e; ++k) m = std::max(m, static_cast<double>(z[i * e + k]));
    double s = 0;
    for (int64_t k = 0; k < e; ++k)
      s += (p[static_cast<size_t>(i * e + k)] = std::exp(z[i * e + k] - m));
    for (int64_t k = 0; k < e; ++k) p[static_cast<size_t>(i * e + k)] /= s;
    f[static_cast<size_t>(route[i])] += 1.0 / static_cast<double>(n);
  }
}

std::unique_ptr<Kernel> balance_loss_kernel(const KernelArgs& a) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t n = a.inputs[0].shape()[0], e = a.inputs[0].shape()[1];
    const T* z = a.inputs[0].data<T>();
    const int32_t* route = a.inputs[1].data<int32_t>();
    T* loss = a.outputs[0].data<T>();
    auto p = std::make_shared<std::vector<double>>(static_cast<size_t>(n * e));
    auto f = std::make_shared<std::vector<double>>(static_cast<size_t>(e));
    return loop_kernel([=] {
      balance_terms(z, route, n, e, *p, *f);
      double acc = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < e; ++k)
          acc += (*f)[static_cast<size_t>(k)] * (*p)[static_cast<size_t>(i * e + k)];
      loss[0] = static_cast<T>(static_cast<double>(e) * acc / static_cast<double>(n));
    });
  });
}

std::unique_ptr<Kernel> balance_loss_backward_kernel(const KernelArgs& a) {
  return by_float_type(a.inputs[1].dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t n = a.inputs[1].shape()[0], e = a.inputs[1].shape()[1];
    const T *g = a.inputs[0].data<T>(), *z = a.inputs[1].data<T>();
    const int32_t* route = a.inputs[2].data<int32_t>();
    T* dz = a.outputs[0].data<T>();
    auto p = std::make_shared<std::vector<double>>(static_cast<size_t>(n * e));
    auto f = std::make_shared<std::vector<double>>(static_cast<size_t>(e));
    return loop_kernel([=] {
      balance_terms(z, route, n, e, *p, *f);
      // dL/dz_nj = E/N * p_nj * (f_j - sum_k f_k p_nk)
      double scale = g[0] * static_cast<double>(e) / static_cast<double>(n);
      for (int64_t i = 0; i < n; ++i) {
        double fp = 0;
        for (int64_t k = 0; k < e; ++k)
          fp += (*f)[static_cast<size_t>(k)] * (*p)[static_cast<size_t>(i * e + k)];
        for (int64_t j = 0; j < e; ++j)
          dz[i * e + j] = static_cast<T>(scale * (*p)[static_cast<size_t>(i * e + j)] *
                                         ((*f)[static_cast<size_t>(j)] - fp));
      }
    });
  });
}

std::unique_ptr<Kernel> top1_kernel(const KernelArgs& a) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t n = a.inputs[0].shape()[0], e = a.inputs[0].shape()[1];
    const T* logits = a.inputs[0].data<T>();
    int32_t* route = a.outputs[0].data<int32_t>();
    T* gate = a.outputs[1].data<T>();
    return loop_kernel([=] {
      for (int64_t i = 0; i < n; ++i) {
        int32_t best = 0;  // strict '>' keeps the lowest index among ties
        for (int64_t k = 1; k < e; ++k)
          if (logits[i * e + k] > logits[i * e + best]) best = static_cast<int32_t>(k);
        route[i] = best;
        gate[i] = T(1);
      }
    });
  });
}

std::unique_ptr<Kernel> top1_backward_kernel(const KernelArgs& a) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t n = a.outputs[0].shape()[0], e = a.outputs[0].shape()[1];
    const T* dgate = a.inputs[0].data<T>();
    const int32_t* route = a.inputs[1].data<int32_t>();
    T* dlogits = a.outputs[0].data<T>();
    return loop_kernel([=] {
      std::fill(dlogits, dlogits + n * e, T(0));
      for (int64_t i = 0; i < n; ++i) dlogits[i * e + route[i]] = dgate[i];
    });
  });
}

std::unique_ptr<Kernel> channel_gate_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t n = a.inputs[0].shape()[0], row = a.inputs[0].numel() / n;
    const T *y = a.inputs[0].data<T>(), *gate = a.inputs[1].data<T>();
    T* z = a.outputs[0].data<T>();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < row; ++k) z[i * row + k] = gate[i] * y[i * row + k];
    });
  });
}

std::unique_ptr<Kernel> channel_gate_backward_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t n = a.inputs[0].shape()[0], row = a.inputs[0].numel() / n;
    const T *dz = a.inputs[0].data<T>(), *y = a.inputs[1].data<T>();
    T* dgate = a.outputs[0].data<T>();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < n; ++i) {
        double acc = 0;
        for (int64_t k = 0; k < row; ++k)
          acc += static_cast<double>(dz[i * row + k]) * y[i * row + k];
        dgate[i] = static_cast<T>(acc);
      }
    });
  });
}

}  // namespace

void add_moe_loops(KernelTable& t, bool parallel) {
  put(t, Op::BalanceLoss, balance_loss_kernel);
  put(t, Op::BalanceLossBackward, balance_loss_backward_kernel);
  put(t, Op::Top1, top1_kernel);
  put(t, Op::Top1Backward, top1_backward_kernel);
  put(t, Op::ChannelGate, bind_parallel(channel_gate_kernel, parallel));
  put(t, Op::ChannelGateBackward, bind_parallel(channel_gate_backward_kernel, parallel));
}

}  // namespace advmoe
