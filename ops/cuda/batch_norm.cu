// Batch norm on CUDA with the exact semantics of ops/reference/batch_norm.cpp (rows [M, C],
// M = N*H*W; batch mean and biased variance in training, PyTorch's running-stat update with the
// unbiased variance; running stats in eval; the backward split into data and parameters, the
// eval-mode data gradient included, which legacy cuDNN lacks and attacks need).
// One block per channel, sums in double in a fixed order (deterministic). The strided per-channel
// reads are simple rather than fast; cuDNN's NHWC batch norm is the planned fast path.
#include <cmath>

#include "ops/attrs.h"
#include "ops/cuda/cuda_kernels.h"

namespace advmoe {

namespace {

template <typename T>
__global__ void bn_forward_kernel(int64_t rows, int64_t c, bool train, double momentum, double eps,
                                  const T* x, const T* gamma, const T* beta, T* running_mean,
                                  T* running_var, T* y, T* saved_mean, T* saved_var) {
  const int64_t k = blockIdx.x;
  double mean, var;
  if (train) {
    double sum = 0, sq = 0;
    for (int64_t r = threadIdx.x; r < rows; r += kThreads) sum += x[r * c + k];
    mean = block_sum(sum) / rows;
    for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
      double d = x[r * c + k] - mean;
      sq += d * d;
    }
    double total = block_sum(sq);
    var = total / rows;
    double unbiased = rows > 1 ? total / (rows - 1) : var;
    __syncthreads();
    if (threadIdx.x == 0) {
      running_mean[k] = static_cast<T>((1 - momentum) * running_mean[k] + momentum * mean);
      running_var[k] = static_cast<T>((1 - momentum) * running_var[k] + momentum * unbiased);
    }
  } else {
    mean = running_mean[k];
    var = running_var[k];
  }
  if (threadIdx.x == 0) {
    saved_mean[k] = static_cast<T>(mean);
    saved_var[k] = static_cast<T>(var);
  }
  double rstd = 1.0 / sqrt(var + eps);
  for (int64_t r = threadIdx.x; r < rows; r += kThreads)
    y[r * c + k] = static_cast<T>(gamma[k] * (x[r * c + k] - mean) * rstd + beta[k]);
}

// dgamma = sum dy * xhat, dbeta = sum dy for channel blockIdx.x.
template <typename T>
__device__ void param_sums(int64_t rows, int64_t c, double eps, const T* dy, const T* x,
                           const T* mean, const T* var, double* dgamma, double* dbeta) {
  const int64_t k = blockIdx.x;
  double rstd = 1.0 / sqrt(var[k] + eps), sg = 0, sb = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
    sb += dy[r * c + k];
    sg += dy[r * c + k] * (x[r * c + k] - mean[k]) * rstd;
  }
  *dgamma = block_sum(sg);
  *dbeta = block_sum(sb);
}

template <typename T>
__global__ void bn_backward_data_kernel(int64_t rows, int64_t c, bool train, double eps,
                                        const T* dy, const T* x, const T* gamma, const T* mean,
                                        const T* var, T* dx) {
  const int64_t k = blockIdx.x;
  double rstd = 1.0 / sqrt(var[k] + eps), dgamma = 0, dbeta = 0;
  if (train) param_sums(rows, c, eps, dy, x, mean, var, &dgamma, &dbeta);
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
    double g = dy[r * c + k];
    if (train) {
      // Batch statistics depend on x: dx = gamma*rstd*(dy - mean(dy) - xhat*mean(dy*xhat)).
      double xhat = (x[r * c + k] - mean[k]) * rstd;
      g -= (dbeta + xhat * dgamma) / rows;
    }
    dx[r * c + k] = static_cast<T>(gamma[k] * rstd * g);
  }
}

template <typename T>
__global__ void bn_backward_params_kernel(int64_t rows, int64_t c, double eps, const T* dy,
                                          const T* x, const T* mean, const T* var, T* dgamma,
                                          T* dbeta) {
  double g, b;
  param_sums(rows, c, eps, dy, x, mean, var, &g, &b);
  if (threadIdx.x == 0) {
    dgamma[blockIdx.x] = static_cast<T>(g);
    dbeta[blockIdx.x] = static_cast<T>(b);
  }
}

}  // namespace

void register_cuda_batch_norm(KernelRegistry& r) {
  add_cuda_float(r, Op::BatchNorm, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t c = a.inputs[0].shape()[-1], rows = a.inputs[0].numel() / c;
    BatchNormAttrs attrs = std::get<BatchNormAttrs>(a.node.attrs);
    bool train = a.mode == Mode::Train;
    const auto& in = a.inputs;
    const auto& out = a.outputs;
    const T *x = in[0].data<T>(), *gamma = in[1].data<T>(), *beta = in[2].data<T>();
    T *rm = in[3].data<T>(), *rv = in[4].data<T>();
    T *y = out[0].data<T>(), *sm = out[1].data<T>(), *sv = out[2].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      bn_forward_kernel<<<static_cast<unsigned>(c), kThreads, 0, s>>>(
          rows, c, train, attrs.momentum, attrs.eps, x, gamma, beta, rm, rv, y, sm, sv);
    });
  });
  add_cuda_float(r, Op::BatchNormBackwardData, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t c = a.inputs[1].shape()[-1], rows = a.inputs[1].numel() / c;
    double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
    bool train = a.mode == Mode::Train;
    const auto& in = a.inputs;
    const T *dy = in[0].data<T>(), *x = in[1].data<T>(), *gamma = in[2].data<T>();
    const T *mean = in[3].data<T>(), *var = in[4].data<T>();
    T* dx = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      bn_backward_data_kernel<<<static_cast<unsigned>(c), kThreads, 0, s>>>(
          rows, c, train, eps, dy, x, gamma, mean, var, dx);
    });
  });
  add_cuda_float(r, Op::BatchNormBackwardParams, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t c = a.inputs[1].shape()[-1], rows = a.inputs[1].numel() / c;
    double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
    const auto& in = a.inputs;
    const T *dy = in[0].data<T>(), *x = in[1].data<T>(), *mean = in[2].data<T>(),
            *var = in[3].data<T>();
    T *dgamma = a.outputs[0].data<T>(), *dbeta = a.outputs[1].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      bn_backward_params_kernel<<<static_cast<unsigned>(c), kThreads, 0, s>>>(
          rows, c, eps, dy, x, mean, var, dgamma, dbeta);
    });
  });
}

}  // namespace advmoe
