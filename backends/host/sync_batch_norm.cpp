// Synchronized batch norm (train mode) on the host: each rank sums its rows per channel, the
// sums are added over the process group, and every rank normalizes with the statistics of the
// whole global batch, as one process with all B rows would (docs/distributed.md, --sync-bn).
//   forward:  mean = sum_all x / N, var = sum_all (x - mean)^2 / N (two passes, as the
//             reference kernel), running stats with the unbiased N / (N - 1);
//   backward: dx = gamma * rstd * (dy - (sum_all dy + xhat * sum_all dy * xhat) / N).
// N = rows per rank * ranks (every rank runs the same graph, so the same local batch).
// Accumulation is in double, per thread, then added in thread order: the result does not depend
// on OpenMP's scheduling.
#include <omp.h>

#include <cmath>
#include <vector>

#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"
#include "runtime/communicator.h"

namespace advmoe {

namespace {

// sums[j * c + k] = sum over rows r of term(j, r, k), for `terms` terms per channel.
template <typename Term>
void channel_sums(int64_t rows, int64_t c, int terms, bool parallel, std::vector<double>& sums,
                  Term term) {
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> partial(static_cast<size_t>(threads * terms * c), 0.0);
#pragma omp parallel num_threads(threads) if (parallel)
  {
    double* mine = partial.data() + static_cast<int64_t>(omp_get_thread_num()) * terms * c;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      for (int j = 0; j < terms; ++j)
        for (int64_t k = 0; k < c; ++k) mine[j * c + k] += term(j, r, k);
  }
  sums.assign(static_cast<size_t>(terms * c), 0.0);
  for (int t = 0; t < threads; ++t)
    for (int64_t i = 0; i < terms * c; ++i)
      sums[static_cast<size_t>(i)] += partial[static_cast<size_t>(t * terms * c + i)];
}

template <typename T>
struct SyncForward {
  const T *x, *gamma, *beta;
  T *running_mean, *running_var, *y, *saved_mean, *saved_var;
  int64_t rows, c;
  BatchNormAttrs attrs;
  bool parallel;

  void operator()() const {
    Communicator& group = world();
    const double n = static_cast<double>(rows) * group.size();
    std::vector<double> sums, mean(static_cast<size_t>(c)), rstd(static_cast<size_t>(c));
    channel_sums(rows, c, 1, parallel, sums,
                 [&](int, int64_t r, int64_t k) { return static_cast<double>(x[r * c + k]); });
    group.allreduce_sum(sums.data(), c);
    for (int64_t k = 0; k < c; ++k) mean[static_cast<size_t>(k)] = sums[static_cast<size_t>(k)] / n;
    channel_sums(rows, c, 1, parallel, sums, [&](int, int64_t r, int64_t k) {
      double d = x[r * c + k] - mean[static_cast<size_t>(k)];
      return d * d;
    });
    group.allreduce_sum(sums.data(), c);
    for (int64_t k = 0; k < c; ++k) {
      const size_t i = static_cast<size_t>(k);
      double var = sums[i] / n, unbiased = n > 1 ? sums[i] / (n - 1) : var;
      running_mean[k] =
          static_cast<T>((1 - attrs.momentum) * running_mean[k] + attrs.momentum * mean[i]);
      running_var[k] =
          static_cast<T>((1 - attrs.momentum) * running_var[k] + attrs.momentum * unbiased);
      saved_mean[k] = static_cast<T>(mean[i]);
      saved_var[k] = static_cast<T>(var);
      rstd[i] = 1.0 / std::sqrt(var + attrs.eps);
    }
#pragma omp parallel for if (parallel)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < c; ++k) {
        const size_t i = static_cast<size_t>(k);
        y[r * c + k] = static_cast<T>(gamma[k] * (x[r * c + k] - mean[i]) * rstd[i] + beta[k]);
      }
  }
};

template <typename T>
struct SyncBackwardData {
  const T *dy, *x, *gamma, *mean, *var;
  T* dx;
  int64_t rows, c;
  double eps;
  bool parallel;

  void operator()() const {
    Communicator& group = world();
    const double n = static_cast<double>(rows) * group.size();
    std::vector<double> rstd(static_cast<size_t>(c)), sums;
    for (int64_t k = 0; k < c; ++k) rstd[static_cast<size_t>(k)] = 1.0 / std::sqrt(var[k] + eps);
    // sums[k]: sum dy; sums[c + k]: sum dy * xhat.
    channel_sums(rows, c, 2, parallel, sums, [&](int j, int64_t r, int64_t k) {
      double d = dy[r * c + k];
      return j == 0 ? d : d * (x[r * c + k] - mean[k]) * rstd[static_cast<size_t>(k)];
    });
    group.allreduce_sum(sums.data(), 2 * c);
#pragma omp parallel for if (parallel)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < c; ++k) {
        const size_t i = static_cast<size_t>(k);
        double xhat = (x[r * c + k] - mean[k]) * rstd[i];
        double g = dy[r * c + k] - (sums[i] + xhat * sums[static_cast<size_t>(c) + i]) / n;
        dx[r * c + k] = static_cast<T>(gamma[k] * rstd[i] * g);
      }
  }
};

}  // namespace

std::unique_ptr<Kernel> sync_batch_norm_forward(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t c = a.inputs[0].shape()[-1], rows = a.inputs[0].numel() / c;
    const auto& in = a.inputs;
    const auto& out = a.outputs;
    SyncForward<T> body{in[0].data<T>(),
                        in[1].data<T>(),
                        in[2].data<T>(),
                        in[3].data<T>(),
                        in[4].data<T>(),
                        out[0].data<T>(),
                        out[1].data<T>(),
                        out[2].data<T>(),
                        rows,
                        c,
                        std::get<BatchNormAttrs>(a.node.attrs),
                        parallel};
    return loop_kernel(body);
  });
}

std::unique_ptr<Kernel> sync_batch_norm_backward_data(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t c = a.inputs[1].shape()[-1], rows = a.inputs[1].numel() / c;
    const auto& in = a.inputs;
    SyncBackwardData<T> body{in[0].data<T>(),
                             in[1].data<T>(),
                             in[2].data<T>(),
                             in[3].data<T>(),
                             in[4].data<T>(),
                             a.outputs[0].data<T>(),
                             rows,
                             c,
                             std::get<BatchNormAttrs>(a.node.attrs).eps,
                             parallel};
    return loop_kernel(body);
  });
}

}  // namespace advmoe
