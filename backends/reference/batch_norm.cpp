// Reference batch-norm kernels over [M, C] rows (M = N*H*W), double accumulation.
// Train: batch mean and biased variance normalize; running stats get PyTorch's update with the
// unbiased variance. Eval: running stats normalize. Backward follows the same split.
#include <cmath>

#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"
#include "backends/reference/reference_kernels.h"

namespace advmoe {

namespace {

struct BnSizes {
  int64_t rows, c;
};

BnSizes bn_sizes(const Tensor& x) {
  return {x.numel() / x.shape()[-1], x.shape()[-1]};
}

template <typename T>
void bn_forward(BnSizes s, Mode mode, const BatchNormAttrs& a, const T* x, const T* gamma,
                const T* beta, T* running_mean, T* running_var, T* y, T* saved_mean, T* saved_var) {
  for (int64_t k = 0; k < s.c; ++k) {
    double mean, var;
    if (mode == Mode::Train) {
      double sum = 0, sq = 0;
      for (int64_t r = 0; r < s.rows; ++r) sum += x[r * s.c + k];
      mean = sum / s.rows;
      for (int64_t r = 0; r < s.rows; ++r) sq += (x[r * s.c + k] - mean) * (x[r * s.c + k] - mean);
      var = sq / s.rows;
      double unbiased = s.rows > 1 ? sq / (s.rows - 1) : var;
      running_mean[k] = static_cast<T>((1 - a.momentum) * running_mean[k] + a.momentum * mean);
      running_var[k] = static_cast<T>((1 - a.momentum) * running_var[k] + a.momentum * unbiased);
    } else {
      mean = running_mean[k];
      var = running_var[k];
    }
    saved_mean[k] = static_cast<T>(mean);
    saved_var[k] = static_cast<T>(var);
    double rstd = 1.0 / std::sqrt(var + a.eps);
    for (int64_t r = 0; r < s.rows; ++r)
      y[r * s.c + k] = static_cast<T>(gamma[k] * (x[r * s.c + k] - mean) * rstd + beta[k]);
  }
}

// dgamma = sum dy * xhat, dbeta = sum dy (the same formula in both modes).
template <typename T>
void bn_param_sums(BnSizes s, int64_t k, double eps, const T* dy, const T* x, const T* mean,
                   const T* var, double* dgamma, double* dbeta) {
  double rstd = 1.0 / std::sqrt(var[k] + eps), sg = 0, sb = 0;
  for (int64_t r = 0; r < s.rows; ++r) {
    sb += dy[r * s.c + k];
    sg += dy[r * s.c + k] * (x[r * s.c + k] - mean[k]) * rstd;
  }
  *dgamma = sg;
  *dbeta = sb;
}

template <typename T>
void bn_backward_data(BnSizes s, Mode mode, double eps, const T* dy, const T* x, const T* gamma,
                      const T* mean, const T* var, T* dx) {
  for (int64_t k = 0; k < s.c; ++k) {
    double rstd = 1.0 / std::sqrt(var[k] + eps), dgamma = 0, dbeta = 0;
    if (mode == Mode::Train) bn_param_sums(s, k, eps, dy, x, mean, var, &dgamma, &dbeta);
    for (int64_t r = 0; r < s.rows; ++r) {
      double g = dy[r * s.c + k];
      if (mode == Mode::Train) {
        // Batch statistics depend on x: dx = gamma*rstd*(dy - mean(dy) - xhat*mean(dy*xhat)).
        double xhat = (x[r * s.c + k] - mean[k]) * rstd;
        g -= (dbeta + xhat * dgamma) / s.rows;
      }
      dx[r * s.c + k] = static_cast<T>(gamma[k] * rstd * g);
    }
  }
}

}  // namespace

void add_reference_batch_norm(KernelTable& t) {
  put(t, Op::BatchNorm, [](const KernelArgs& a) {
    if (synchronized_train(a)) return sync_batch_norm_forward(a, /*parallel=*/false);
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      BnSizes s = bn_sizes(a.inputs[0]);
      BatchNormAttrs attrs = std::get<BatchNormAttrs>(a.node.attrs);
      Mode mode = a.mode;
      const auto& in = a.inputs;
      const auto& out = a.outputs;
      const T *x = in[0].data<T>(), *gamma = in[1].data<T>(), *beta = in[2].data<T>();
      T *rm = in[3].data<T>(), *rv = in[4].data<T>();
      T *y = out[0].data<T>(), *sm = out[1].data<T>(), *sv = out[2].data<T>();
      return loop_kernel([=] { bn_forward(s, mode, attrs, x, gamma, beta, rm, rv, y, sm, sv); });
    });
  });
  put(t, Op::BatchNormBackwardData, [](const KernelArgs& a) {
    if (synchronized_train(a)) return sync_batch_norm_backward_data(a, /*parallel=*/false);
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      BnSizes s = bn_sizes(a.inputs[1]);
      double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
      Mode mode = a.mode;
      const auto& in = a.inputs;
      const T *dy = in[0].data<T>(), *x = in[1].data<T>(), *gamma = in[2].data<T>();
      const T *mean = in[3].data<T>(), *var = in[4].data<T>();
      T* dx = a.outputs[0].data<T>();
      return loop_kernel([=] { bn_backward_data(s, mode, eps, dy, x, gamma, mean, var, dx); });
    });
  });
  put(t, Op::BatchNormBackwardParams, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      BnSizes s = bn_sizes(a.inputs[1]);
      double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
      const auto& in = a.inputs;
      const T *dy = in[0].data<T>(), *x = in[1].data<T>(), *mean = in[2].data<T>(),
              *var = in[3].data<T>();
      T *dgamma = a.outputs[0].data<T>(), *dbeta = a.outputs[1].data<T>();
      return loop_kernel([=] {
        for (int64_t k = 0; k < s.c; ++k) {
          double g, b;
          bn_param_sums(s, k, eps, dy, x, mean, var, &g, &b);
          dgamma[k] = static_cast<T>(g);
          dbeta[k] = static_cast<T>(b);
        }
      });
    });
  });
}

}  // namespace advmoe
