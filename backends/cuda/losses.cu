// Loss ops on CUDA with the semantics of backends/host/loss_loops.cpp: rows of logits [N, K], log-
// sum-exp and sums in double. Scalar losses reduce in one block in a fixed order (deterministic);
// a label outside [0, K) stops the run naming the node and the sample, as on the CPU.
#include <climits>
#include <string>

#include "backends/attack_math.h"
#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

template <typename T>
__device__ double row_log_sum_exp(const T* z, int64_t k) {
  double m = z[0];
  for (int64_t j = 1; j < k; ++j) m = fmax(m, static_cast<double>(z[j]));
  double s = 0;
  for (int64_t j = 0; j < k; ++j) s += exp(static_cast<double>(z[j]) - m);
  return m + log(s);
}

// bad_row: the first sample with a label outside [0, k), or -1.
template <typename T>
__global__ void cross_entropy_kernel(const T* z, const int32_t* y, int64_t n, int64_t k, T* loss,
                                     long long* bad_row) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    if (y[i] < 0 || y[i] >= k) {
      atomicMin(bad_row, static_cast<long long>(i));
      continue;
    }
    acc += row_log_sum_exp(z + i * k, k) - z[i * k + y[i]];
  }
  double total = block_sum(acc);
  if (threadIdx.x == 0) loss[0] = static_cast<T>(total / n);
}

template <typename T>
__global__ void cross_entropy_backward_kernel(const T* g, const T* z, const int32_t* y, T* dz,
                                              int64_t n, int64_t k) {
  double scale = g[0] / static_cast<double>(n);
  ADVMOE_GRID_STRIDE(i, n) {
    double lse = row_log_sum_exp(z + i * k, k);
    for (int64_t j = 0; j < k; ++j)
      dz[i * k + j] = static_cast<T>(scale * (exp(z[i * k + j] - lse) - (j == y[i] ? 1 : 0)));
  }
}

template <typename T>
__global__ void kl_kernel(const T* lp, const T* lq, int64_t n, int64_t total, T* loss) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < total; i += kThreads)
    acc += exp(static_cast<double>(lp[i])) * (static_cast<double>(lp[i]) - lq[i]);
  double sum = block_sum(acc);
  if (threadIdx.x == 0) loss[0] = static_cast<T>(sum / n);
}

// d/dlog_p = p (log_p - log_q + 1);  d/dlog_q = -p; both times g / N.
template <typename T>
__global__ void kl_backward_kernel(const T* g, const T* lp, const T* lq, T* d, int64_t n,
                                   int64_t total, bool wrt_p) {
  double scale = g[0] / static_cast<double>(n);
  ADVMOE_GRID_STRIDE(i, total) {
    double p = exp(static_cast<double>(lp[i]));
    d[i] = static_cast<T>(scale * (wrt_p ? p * (static_cast<double>(lp[i]) - lq[i] + 1) : -p));
  }
}

template <typename T>
__global__ void log_softmax_kernel(const T* z, T* y, int64_t n, int64_t k) {
  ADVMOE_GRID_STRIDE(i, n) {
    double lse = row_log_sum_exp(z + i * k, k);
    for (int64_t j = 0; j < k; ++j) y[i * k + j] = static_cast<T>(z[i * k + j] - lse);
  }
}

template <typename T>
__global__ void log_softmax_backward_kernel(const T* dy, const T* y, T* dx, int64_t n, int64_t k) {
  ADVMOE_GRID_STRIDE(i, n) {
    double total = 0;
    for (int64_t j = 0; j < k; ++j) total += dy[i * k + j];
    for (int64_t j = 0; j < k; ++j)
      dx[i * k + j] =
          static_cast<T>(dy[i * k + j] - exp(static_cast<double>(y[i * k + j])) * total);
  }
}

// sample_loss (+ backward): one thread per row, the host loops' arithmetic
// (backends/attack_math.h). A label or target outside [0, K) gives a NaN loss and a NaN gradient
// row (the attack programs validate labels before they reach the device).
template <typename T>
__global__ void sample_loss_kernel(SampleLossAttrs::Kind kind, const T* z, const int32_t* y,
                                   const int32_t* t, T* loss, int64_t n, int64_t k) {
  ADVMOE_GRID_STRIDE(i, n) {
    const int64_t target = t ? t[i] : 0;
    if (y[i] < 0 || y[i] >= k || target < 0 || target >= k) {
      loss[i] = static_cast<T>(NAN);
      continue;
    }
    loss[i] = static_cast<T>(
        attack_math::sample_loss_row<T, T>(kind, z + i * k, k, y[i], target, nullptr, 0));
  }
}

template <typename T>
__global__ void sample_loss_backward_kernel(SampleLossAttrs::Kind kind, const T* g, const T* z,
                                            const int32_t* y, const int32_t* t, T* dz, int64_t n,
                                            int64_t k) {
  ADVMOE_GRID_STRIDE(i, n) {
    const int64_t target = t ? t[i] : 0;
    if (y[i] < 0 || y[i] >= k || target < 0 || target >= k) {
      for (int64_t j = 0; j < k; ++j) dz[i * k + j] = static_cast<T>(NAN);
      continue;
    }
    attack_math::sample_loss_row(kind, z + i * k, k, y[i], target, dz + i * k,
                                 static_cast<double>(g[i]));
  }
}

// Cross-entropy forward: owns a device flag for the first bad label and checks it after each
// run (the host reads the loss every step anyway, so the synchronization costs little).
template <typename T>
class CrossEntropyKernel : public Kernel {
 public:
  explicit CrossEntropyKernel(const KernelArgs& a)
      : stream_(cuda_backend(a.backend).stream()),
        node_(a.node.name),
        z_(a.inputs[0].data<T>()),
        y_(a.inputs[1].data<int32_t>()),
        loss_(a.outputs[0].data<T>()),
        n_(a.inputs[0].shape()[0]),
        k_(a.inputs[0].shape()[1]) {
    ADVMOE_CUDA_CHECK(cudaMalloc(&bad_row_, sizeof(long long)));
  }
  ~CrossEntropyKernel() override { cudaFree(bad_row_); }
  size_t owned_bytes() const override { return sizeof(long long); }

  void run() override {
    const long long none = LLONG_MAX;  // atomicMin keeps the smallest bad row
    ADVMOE_CUDA_CHECK(
        cudaMemcpyAsync(bad_row_, &none, sizeof none, cudaMemcpyHostToDevice, stream_));
    cross_entropy_kernel<<<1, kThreads, 0, stream_>>>(z_, y_, n_, k_, loss_, bad_row_);
    ADVMOE_CUDA_CHECK(cudaGetLastError());
    long long bad = LLONG_MAX;
    ADVMOE_CUDA_CHECK(cudaMemcpyAsync(&bad, bad_row_, sizeof bad, cudaMemcpyDeviceToHost, stream_));
    ADVMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (bad != LLONG_MAX) {
      int32_t label = 0;
      ADVMOE_CUDA_CHECK(cudaMemcpy(&label, y_ + bad, sizeof label, cudaMemcpyDeviceToHost));
      ADVMOE_FAIL("softmax_cross_entropy '" << node_ << "': label " << label << " of sample " << bad
                                            << " is outside [0, " << k_ << ")");
    }
  }

 private:
  cudaStream_t stream_;
  std::string node_;
  const T* z_;
  const int32_t* y_;
  T* loss_;
  int64_t n_, k_;
  long long* bad_row_ = nullptr;
};

}  // namespace

void add_cuda_losses(KernelTable& t) {
  add_cuda_float(t, Op::SoftmaxCrossEntropy, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    return std::unique_ptr<Kernel>(std::make_unique<CrossEntropyKernel<T>>(a));
  });
  add_cuda_float(t, Op::SoftmaxCrossEntropyBackward, 1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T *g = a.inputs[0].data<T>(), *z = a.inputs[1].data<T>();
    const int32_t* y = a.inputs[2].data<int32_t>();
    T* dz = a.outputs[0].data<T>();
    int64_t n = a.inputs[1].shape()[0], k = a.inputs[1].shape()[1];
    return stream_kernel(a, [=](cudaStream_t s) {
      cross_entropy_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(g, z, y, dz, n, k);
    });
  });
  add_cuda_float(t, Op::KlDiv, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T *lp = a.inputs[0].data<T>(), *lq = a.inputs[1].data<T>();
    T* loss = a.outputs[0].data<T>();
    int64_t n = a.inputs[0].shape()[0], total = a.inputs[0].numel();
    return stream_kernel(
        a, [=](cudaStream_t s) { kl_kernel<<<1, kThreads, 0, s>>>(lp, lq, n, total, loss); });
  });
  add_cuda_float(t, Op::KlDivBackward, 1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T *g = a.inputs[0].data<T>(), *lp = a.inputs[1].data<T>(), *lq = a.inputs[2].data<T>();
    T* d = a.outputs[0].data<T>();
    int64_t n = a.inputs[1].shape()[0], total = a.inputs[1].numel();
    bool wrt_p = std::get<KlBackwardAttrs>(a.node.attrs).wrt == 0;
    return stream_kernel(a, [=](cudaStream_t s) {
      kl_backward_kernel<<<blocks_for(total), kThreads, 0, s>>>(g, lp, lq, d, n, total, wrt_p);
    });
  });
  add_cuda_float(t, Op::SampleLoss, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T* z = a.inputs[0].data<T>();
    const int32_t* y = a.inputs[1].data<int32_t>();
    const int32_t* targets = a.inputs.size() > 2 ? a.inputs[2].data<int32_t>() : nullptr;
    T* loss = a.outputs[0].data<T>();
    const auto kind = std::get<SampleLossAttrs>(a.node.attrs).kind;
    int64_t n = a.inputs[0].shape()[0], k = a.inputs[0].shape()[1];
    return stream_kernel(a, [=](cudaStream_t s) {
      sample_loss_kernel<<<blocks_for(n), kThreads, 0, s>>>(kind, z, y, targets, loss, n, k);
    });
  });
  add_cuda_float(t, Op::SampleLossBackward, 1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T *g = a.inputs[0].data<T>(), *z = a.inputs[1].data<T>();
    const int32_t* y = a.inputs[2].data<int32_t>();
    const int32_t* targets = a.inputs.size() > 3 ? a.inputs[3].data<int32_t>() : nullptr;
    T* dz = a.outputs[0].data<T>();
    const auto kind = std::get<SampleLossAttrs>(a.node.attrs).kind;
    int64_t n = a.inputs[1].shape()[0], k = a.inputs[1].shape()[1];
    return stream_kernel(a, [=](cudaStream_t s) {
      sample_loss_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(kind, g, z, y, targets, dz, n,
                                                                     k);
    });
  });
  add_cuda_float(t, Op::LogSoftmax, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T* z = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.inputs[0].shape()[0], k = a.inputs[0].shape()[1];
    return stream_kernel(a, [=](cudaStream_t s) {
      log_softmax_kernel<<<blocks_for(n), kThreads, 0, s>>>(z, y, n, k);
    });
  });
  add_cuda_float(t, Op::LogSoftmaxBackward, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T *dy = a.inputs[0].data<T>(), *y = a.inputs[1].data<T>();
    T* dx = a.outputs[0].data<T>();
    int64_t n = a.inputs[0].shape()[0], k = a.inputs[0].shape()[1];
    return stream_kernel(a, [=](cudaStream_t s) {
      log_softmax_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(dy, y, dx, n, k);
    });
  });
}

}  // namespace advmoe
