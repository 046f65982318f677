// Loss kernels as plain loops over rows of logits [N, K], double accumulation. The same loops
// serve the reference backend (serial) and the oneDNN backend (OpenMP over rows; oneDNN has its
// own log-softmax).
#include <cmath>

#include "backends/attack_math.h"
#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"

namespace advmoe {

namespace {

template <typename T>
double log_sum_exp(const T* z, int64_t k) {
  double m = z[0];
  for (int64_t j = 1; j < k; ++j) m = std::max(m, static_cast<double>(z[j]));
  double s = 0;
  for (int64_t j = 0; j < k; ++j) s += std::exp(z[j] - m);
  return m + std::log(s);
}

// Labels are validated at run time: a bad label names the node and the sample.
void check_label(const std::string& node, int64_t row, int32_t label, int64_t classes) {
  ADVMOE_CHECK(label >= 0 && label < classes, "softmax_cross_entropy '"
                                                  << node << "': label " << label << " of sample "
                                                  << row << " is outside [0, " << classes << ")");
}

struct Rows {
  int64_t n, k;
};

Rows rows_of(const Tensor& logits) {
  return {logits.shape()[0], logits.shape()[1]};
}

std::unique_ptr<Kernel> softmax_cross_entropy_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    Rows s = rows_of(a.inputs[0]);
    const T* z = a.inputs[0].data<T>();
    const int32_t* y = a.inputs[1].data<int32_t>();
    T* loss = a.outputs[0].data<T>();
    // Kernels outlive graph edits (appending nodes may move them): copy the name, not a pointer.
    std::string node = a.node.name;
    return loop_kernel([=] {
      for (int64_t i = 0; i < s.n; ++i) check_label(node, i, y[i], s.k);
      double acc = 0;
#pragma omp parallel for reduction(+ : acc) if (parallel)
      for (int64_t i = 0; i < s.n; ++i) acc += log_sum_exp(z + i * s.k, s.k) - z[i * s.k + y[i]];
      loss[0] = static_cast<T>(acc / s.n);
    });
  });
}

std::unique_ptr<Kernel> softmax_cross_entropy_backward_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[1].dtype(), [&](auto tag) {
    using T = decltype(tag);
    Rows s = rows_of(a.inputs[1]);
    const T *g = a.inputs[0].data<T>(), *z = a.inputs[1].data<T>();
    const int32_t* y = a.inputs[2].data<int32_t>();
    T* dz = a.outputs[0].data<T>();
    return loop_kernel([=] {
      double scale = g[0] / static_cast<double>(s.n);
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < s.n; ++i) {
        double lse = log_sum_exp(z + i * s.k, s.k);
        for (int64_t j = 0; j < s.k; ++j)
          dz[i * s.k + j] =
              static_cast<T>(scale * (std::exp(z[i * s.k + j] - lse) - (j == y[i] ? 1 : 0)));
      }
    });
  });
}

std::unique_ptr<Kernel> kl_div_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    Rows s = rows_of(a.inputs[0]);
    const T *lp = a.inputs[0].data<T>(), *lq = a.inputs[1].data<T>();
    T* loss = a.outputs[0].data<T>();
    int64_t total = s.n * s.k;
    return loop_kernel([=] {
      double acc = 0;
#pragma omp parallel for reduction(+ : acc) if (parallel)
      for (int64_t i = 0; i < total; ++i) acc += std::exp(lp[i]) * (lp[i] - lq[i]);
      loss[0] = static_cast<T>(acc / s.n);
    });
  });
}

std::unique_ptr<Kernel> kl_div_backward_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[1].dtype(), [&](auto tag) {
    using T = decltype(tag);
    Rows s = rows_of(a.inputs[1]);
    const T *g = a.inputs[0].data<T>(), *lp = a.inputs[1].data<T>(), *lq = a.inputs[2].data<T>();
    T* d = a.outputs[0].data<T>();
    bool wrt_p = std::get<KlBackwardAttrs>(a.node.attrs).wrt == 0;
    int64_t total = s.n * s.k;
    return loop_kernel([=] {
      double scale = g[0] / static_cast<double>(s.n);
      // d/dlog_p = p (log_p - log_q + 1);  d/dlog_q = -p.
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < total; ++i) {
        double p = std::exp(lp[i]);
        d[i] = static_cast<T>(scale * (wrt_p ? p * (lp[i] - lq[i] + 1) : -p));
      }
    });
  });
}

std::unique_ptr<Kernel> log_softmax_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    Rows s = rows_of(a.inputs[0]);
    const T* z = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < s.n; ++i) {
        double lse = log_sum_exp(z + i * s.k, s.k);
        for (int64_t j = 0; j < s.k; ++j) y[i * s.k + j] = static_cast<T>(z[i * s.k + j] - lse);
      }
    });
  });
}

std::unique_ptr<Kernel> log_softmax_backward_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    Rows s = rows_of(a.inputs[0]);
    const T *dy = a.inputs[0].data<T>(), *y = a.inputs[1].data<T>();
    T* dx = a.outputs[0].data<T>();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < s.n; ++i) {
        double total = 0;
        for (int64_t j = 0; j < s.k; ++j) total += dy[i * s.k + j];
        for (int64_t j = 0; j < s.k; ++j)
          dx[i * s.k + j] = static_cast<T>(dy[i * s.k + j] - std::exp(y[i * s.k + j]) * total);
      }
    });
  });
}

// sample_loss and its backward: one row per sample (backends/attack_math.h). Labels and targets
// are checked at run time, naming the node and the sample.
void check_sample_indices(const std::string& node, const int32_t* labels, const int32_t* targets,
                          Rows s) {
  for (int64_t i = 0; i < s.n; ++i) {
    ADVMOE_CHECK(labels[i] >= 0 && labels[i] < s.k,
                 "sample_loss '" << node << "': label " << labels[i] << " of sample " << i
                                 << " is outside [0, " << s.k << ")");
    if (targets)
      ADVMOE_CHECK(targets[i] >= 0 && targets[i] < s.k,
                   "sample_loss '" << node << "': target " << targets[i] << " of sample " << i
                                   << " is outside [0, " << s.k << ")");
  }
}

std::unique_ptr<Kernel> sample_loss_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    Rows s = rows_of(a.inputs[0]);
    const T* z = a.inputs[0].data<T>();
    const int32_t* y = a.inputs[1].data<int32_t>();
    const int32_t* t = a.inputs.size() > 2 ? a.inputs[2].data<int32_t>() : nullptr;
    T* loss = a.outputs[0].data<T>();
    const SampleLossAttrs attrs = std::get<SampleLossAttrs>(a.node.attrs);
    std::string node = a.node.name;
    return loop_kernel([=] {
      check_sample_indices(node, y, t, s);
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < s.n; ++i)
        loss[i] = static_cast<T>(attack_math::sample_loss_row<T, T>(
            attrs.kind, z + i * s.k, s.k, y[i], t ? t[i] : 0, nullptr, 0));
    });
  });
}

std::unique_ptr<Kernel> sample_loss_backward_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[1].dtype(), [&](auto tag) {
    using T = decltype(tag);
    Rows s = rows_of(a.inputs[1]);
    const T *g = a.inputs[0].data<T>(), *z = a.inputs[1].data<T>();
    const int32_t* y = a.inputs[2].data<int32_t>();
    const int32_t* t = a.inputs.size() > 3 ? a.inputs[3].data<int32_t>() : nullptr;
    T* dz = a.outputs[0].data<T>();
    const SampleLossAttrs attrs = std::get<SampleLossAttrs>(a.node.attrs);
    std::string node = a.node.name;
    return loop_kernel([=] {
      check_sample_indices(node, y, t, s);
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < s.n; ++i)
        attack_math::sample_loss_row(attrs.kind, z + i * s.k, s.k, y[i], t ? t[i] : 0, dz + i * s.k,
                                     static_cast<double>(g[i]));
    });
  });
}

}  // namespace

void add_loss_loops(KernelTable& t, bool parallel) {
  put(t, Op::SoftmaxCrossEntropy, bind_parallel(softmax_cross_entropy_kernel, parallel));
  put(t, Op::SoftmaxCrossEntropyBackward,
      bind_parallel(softmax_cross_entropy_backward_kernel, parallel));
  put(t, Op::KlDiv, bind_parallel(kl_div_kernel, parallel));
  put(t, Op::KlDivBackward, bind_parallel(kl_div_backward_kernel, parallel));
  put(t, Op::SampleLoss, bind_parallel(sample_loss_kernel, parallel));
  put(t, Op::SampleLossBackward, bind_parallel(sample_loss_backward_kernel, parallel));
  put(t, Op::LogSoftmax, bind_parallel(log_softmax_kernel, parallel));
  put(t, Op::LogSoftmaxBackward, bind_parallel(log_softmax_backward_kernel, parallel));
}

}  // namespace advmoe
