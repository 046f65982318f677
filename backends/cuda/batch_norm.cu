// Batch norm on CUDA with the exact semantics of backends/reference/batch_norm.cpp (rows [M, C],
// M = N*H*W; batch mean and biased variance in training, PyTorch's running-stat update with the
// unbiased variance; running stats in eval; the backward split into data and parameters, the
// eval-mode data gradient included, which legacy cuDNN lacks and attacks need).
// Per-channel sums are two deterministic passes over NHWC memory: blocks of 32 channels x 8 rows
// read consecutive channels (coalesced) over a fixed chunk of rows and write per-chunk partial
// sums in double; one thread per channel then adds its chunks in order. Everything else is
// elementwise.
#include <cmath>

#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

constexpr int kTileChannels = 32, kTileRows = 8;

// How the rows are cut into chunks: enough blocks to fill the GPU, each chunk long enough that
// the partial sums stay small.
struct Layout {
  int64_t rows = 0, c = 0, chunks = 1, rows_per_chunk = 1;

  static Layout of(int64_t rows, int64_t c) {
    Layout l{rows, c, 1, rows};
    l.chunks = std::clamp<int64_t>((rows + 63) / 64, 1, 64);
    l.rows_per_chunk = (rows + l.chunks - 1) / l.chunks;
    l.chunks = (rows + l.rows_per_chunk - 1) / l.rows_per_chunk;
    return l;
  }
  // Scratch doubles: two partial sums per (chunk, channel), then two per-channel vectors.
  size_t scratch_bytes() const {
    return sizeof(double) * static_cast<size_t>(2 * chunks * c + 2 * c);
  }
};

// The two quantities each reduction sums per element (i: flat index, k: its channel).
template <typename T>
struct SumOfX {
  const T* x;
  __device__ double2 operator()(int64_t i, int64_t) const { return {double(x[i]), 0.0}; }
};

template <typename T>
struct SumOfSquaredDeviations {
  const T* x;
  const double* mean;
  __device__ double2 operator()(int64_t i, int64_t k) const {
    double d = x[i] - mean[k];
    return {d * d, 0.0};
  }
};

// (dy * xhat, dy): the sums behind dgamma and dbeta.
template <typename T>
struct SumsOfGradient {
  const T *dy, *x, *mean, *var;
  double eps;
  __device__ double2 operator()(int64_t i, int64_t k) const {
    double g = dy[i];
    return {g * (x[i] - mean[k]) * (1.0 / sqrt(double(var[k]) + eps)), g};
  }
};

// partial[(chunk * c + k) * 2 + {0, 1}] = sums of f over the chunk's rows of channel k.
template <typename F>
__global__ void channel_partials_kernel(Layout l, F f, double* partial) {
  __shared__ double sum_a[kTileRows][kTileChannels], sum_b[kTileRows][kTileChannels];
  const int64_t k = blockIdx.x * static_cast<int64_t>(kTileChannels) + threadIdx.x;
  const int64_t begin = blockIdx.y * l.rows_per_chunk;
  const int64_t end = min(begin + l.rows_per_chunk, l.rows);
  double a = 0, b = 0;
  if (k < l.c)
    for (int64_t r = begin + threadIdx.y; r < end; r += kTileRows) {
      double2 v = f(r * l.c + k, k);
      a += v.x;
      b += v.y;
    }
  sum_a[threadIdx.y][threadIdx.x] = a;
  sum_b[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && k < l.c) {
    double ta = 0, tb = 0;
    for (int j = 0; j < kTileRows; ++j) {
      ta += sum_a[j][threadIdx.x];
      tb += sum_b[j][threadIdx.x];
    }
    partial[(blockIdx.y * l.c + k) * 2] = ta;
    partial[(blockIdx.y * l.c + k) * 2 + 1] = tb;
  }
}

template <typename F>
void channel_partials(const Layout& l, F f, double* partial, cudaStream_t s) {
  dim3 grid(static_cast<unsigned>((l.c + kTileChannels - 1) / kTileChannels),
            static_cast<unsigned>(l.chunks));
  channel_partials_kernel<<<grid, dim3(kTileChannels, kTileRows), 0, s>>>(l, f, partial);
}

// The chunks' partial sums of channel k, added in chunk order.
__device__ inline double2 channel_total(const Layout& l, const double* partial, int64_t k) {
  double a = 0, b = 0;
  for (int64_t chunk = 0; chunk < l.chunks; ++chunk) {
    a += partial[(chunk * l.c + k) * 2];
    b += partial[(chunk * l.c + k) * 2 + 1];
  }
  return {a, b};
}

__global__ void finish_mean_kernel(Layout l, const double* partial, double* mean) {
  ADVMOE_GRID_STRIDE(k, l.c) mean[k] = channel_total(l, partial, k).x / l.rows;
}

// Biased variance for normalizing, unbiased for the running estimate (PyTorch's rule).
template <typename T>
__global__ void finish_variance_kernel(Layout l, const double* partial, const double* mean,
                                       double* var, double momentum, T* running_mean,
                                       T* running_var, T* saved_mean, T* saved_var) {
  ADVMOE_GRID_STRIDE(k, l.c) {
    double total = channel_total(l, partial, k).x;
    var[k] = total / l.rows;
    double unbiased = l.rows > 1 ? total / (l.rows - 1) : var[k];
    running_mean[k] = static_cast<T>((1 - momentum) * running_mean[k] + momentum * mean[k]);
    running_var[k] = static_cast<T>((1 - momentum) * running_var[k] + momentum * unbiased);
    saved_mean[k] = static_cast<T>(mean[k]);
    saved_var[k] = static_cast<T>(var[k]);
  }
}

// Eval mode normalizes with the running statistics.
template <typename T>
__global__ void use_running_stats_kernel(int64_t c, const T* running_mean, const T* running_var,
                                         double* mean, double* var, T* saved_mean, T* saved_var) {
  ADVMOE_GRID_STRIDE(k, c) {
    mean[k] = running_mean[k];
    var[k] = running_var[k];
    saved_mean[k] = running_mean[k];
    saved_var[k] = running_var[k];
  }
}

template <typename T>
__global__ void normalize_kernel(int64_t n, int64_t c, double eps, const T* x, const T* gamma,
                                 const T* beta, const double* mean, const double* var, T* y) {
  ADVMOE_GRID_STRIDE(i, n) {
    int64_t k = i % c;
    y[i] = static_cast<T>(gamma[k] * (x[i] - mean[k]) * (1.0 / sqrt(var[k] + eps)) + beta[k]);
  }
}

// dgamma and dbeta (as doubles, for the data gradient) from the partial sums.
__global__ void finish_param_sums_kernel(Layout l, const double* partial, double* dgamma,
                                         double* dbeta) {
  ADVMOE_GRID_STRIDE(k, l.c) {
    double2 t = channel_total(l, partial, k);
    dgamma[k] = t.x;
    dbeta[k] = t.y;
  }
}

template <typename T>
__global__ void finish_param_grads_kernel(Layout l, const double* partial, T* dgamma, T* dbeta) {
  ADVMOE_GRID_STRIDE(k, l.c) {
    double2 t = channel_total(l, partial, k);
    dgamma[k] = static_cast<T>(t.x);
    dbeta[k] = static_cast<T>(t.y);
  }
}

// Train: batch statistics depend on x, dx = gamma*rstd*(dy - mean(dy) - xhat*mean(dy*xhat));
// eval: dx = gamma*rstd*dy (dgamma/dbeta are not read).
template <typename T>
__global__ void data_gradient_kernel(int64_t n, int64_t c, int64_t rows, bool train, double eps,
                                     const T* dy, const T* x, const T* gamma, const T* mean,
                                     const T* var, const double* dgamma, const double* dbeta,
                                     T* dx) {
  ADVMOE_GRID_STRIDE(i, n) {
    int64_t k = i % c;
    double rstd = 1.0 / sqrt(double(var[k]) + eps), g = dy[i];
    if (train) g -= (dbeta[k] + (x[i] - mean[k]) * rstd * dgamma[k]) / rows;
    dx[i] = static_cast<T>(gamma[k] * rstd * g);
  }
}

// A kernel whose launches need the per-channel scratch (taken from the Plan's scratchpad).
class ScratchKernel : public Kernel {
 public:
  using Launch = std::function<void(cudaStream_t, double* partial, double* vec_a, double* vec_b)>;
  ScratchKernel(const KernelArgs& a, const Layout& l, Launch launch)
      : stream_(cuda_backend(a.backend).stream()), layout_(l), launch_(std::move(launch)) {}
  size_t scratchpad_bytes() const override { return layout_.scratch_bytes(); }
  void set_scratchpad(void* scratchpad) override { scratch_ = static_cast<double*>(scratchpad); }
  void run() override {
    double* partial = scratch_;
    double* vec_a = partial + 2 * layout_.chunks * layout_.c;
    launch_(stream_, partial, vec_a, vec_a + layout_.c);
    ADVMOE_CUDA_CHECK(cudaGetLastError());
  }

 private:
  cudaStream_t stream_;
  Layout layout_;
  Launch launch_;
  double* scratch_ = nullptr;
};

// fold_batch_norm (compile/eval_fusion.h): one thread per filter element, the scale in double
// as in backends/host/fold_loops.cpp (filter o takes channel o % channels' scale: an expert conv
// has E banks of `channels` filters); threads [0, channels) also write the folded bias.
template <typename T>
__global__ void fold_batch_norm_kernel(const T* w, const T* gamma, const T* beta, const T* mean,
                                       const T* var, const T* bias, double eps, T* folded_w,
                                       T* folded_b, int64_t filters, int64_t channels,
                                       int64_t filter) {
  ADVMOE_GRID_STRIDE(i, filters * filter) {
    const int64_t o = (i / filter) % channels;
    const double s = static_cast<double>(gamma[o]) / sqrt(static_cast<double>(var[o]) + eps);
    folded_w[i] = static_cast<T>(w[i] * s);
    if (i < channels) {
      const double b = bias ? static_cast<double>(bias[i]) : 0.0;
      const double si = static_cast<double>(gamma[i]) / sqrt(static_cast<double>(var[i]) + eps);
      folded_b[i] = static_cast<T>((b - mean[i]) * si + beta[i]);
    }
  }
}

}  // namespace

void add_cuda_batch_norm(KernelTable& t) {
  add_cuda_float(t, Op::FoldBatchNorm, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
    const int64_t filters = a.inputs[0].shape()[0], channels = a.inputs[1].shape()[0];
    const int64_t filter = a.inputs[0].numel() / filters;
    const T *w = a.inputs[0].data<T>(), *gamma = a.inputs[1].data<T>(),
            *beta = a.inputs[2].data<T>(), *mean = a.inputs[3].data<T>(),
            *var = a.inputs[4].data<T>();
    const T* bias = a.inputs.size() == 6 ? a.inputs[5].data<T>() : nullptr;
    T *folded_w = a.outputs[0].data<T>(), *folded_b = a.outputs[1].data<T>();
    const int64_t n = filters * filter;
    return stream_kernel(a, [=](cudaStream_t s) {
      fold_batch_norm_kernel<<<blocks_for(n), kThreads, 0, s>>>(
          w, gamma, beta, mean, var, bias, eps, folded_w, folded_b, filters, channels, filter);
    });
  });
  add_cuda_float(t, Op::BatchNorm, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const int64_t n = a.inputs[0].numel(), c = a.inputs[0].shape()[-1];
    const Layout l = Layout::of(n / c, c);
    const BatchNormAttrs attrs = std::get<BatchNormAttrs>(a.node.attrs);
    const bool train = a.mode == Mode::Train;
    ADVMOE_CHECK(!(train && attrs.synchronized),
                 "batch_norm '" << a.node.name << "': --sync-bn is not implemented on CUDA yet "
                                << "(docs/distributed.md); train with per-rank statistics");
    const auto& in = a.inputs;
    const auto& out = a.outputs;
    const T *x = in[0].data<T>(), *gamma = in[1].data<T>(), *beta = in[2].data<T>();
    T *rm = in[3].data<T>(), *rv = in[4].data<T>();
    T *y = out[0].data<T>(), *sm = out[1].data<T>(), *sv = out[2].data<T>();
    return std::unique_ptr<Kernel>(std::make_unique<ScratchKernel>(
        a, l, [=](cudaStream_t s, double* partial, double* mean, double* var) {
          if (train) {
            channel_partials(l, SumOfX<T>{x}, partial, s);
            finish_mean_kernel<<<blocks_for(c), kThreads, 0, s>>>(l, partial, mean);
            channel_partials(l, SumOfSquaredDeviations<T>{x, mean}, partial, s);
            finish_variance_kernel<<<blocks_for(c), kThreads, 0, s>>>(
                l, partial, mean, var, attrs.momentum, rm, rv, sm, sv);
          } else {
            use_running_stats_kernel<<<blocks_for(c), kThreads, 0, s>>>(c, rm, rv, mean, var, sm,
                                                                        sv);
          }
          normalize_kernel<<<blocks_for(n), kThreads, 0, s>>>(n, c, attrs.eps, x, gamma, beta, mean,
                                                              var, y);
        }));
  });
  add_cuda_float(t, Op::BatchNormBackwardData, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const int64_t n = a.inputs[1].numel(), c = a.inputs[1].shape()[-1];
    const Layout l = Layout::of(n / c, c);
    const double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
    const bool train = a.mode == Mode::Train;
    const auto& in = a.inputs;
    const T *dy = in[0].data<T>(), *x = in[1].data<T>(), *gamma = in[2].data<T>();
    const T *mean = in[3].data<T>(), *var = in[4].data<T>();
    T* dx = a.outputs[0].data<T>();
    return std::unique_ptr<Kernel>(std::make_unique<ScratchKernel>(
        a, l, [=](cudaStream_t s, double* partial, double* dgamma, double* dbeta) {
          if (train) {
            channel_partials(l, SumsOfGradient<T>{dy, x, mean, var, eps}, partial, s);
            finish_param_sums_kernel<<<blocks_for(c), kThreads, 0, s>>>(l, partial, dgamma, dbeta);
          }
          data_gradient_kernel<<<blocks_for(n), kThreads, 0, s>>>(
              n, c, l.rows, train, eps, dy, x, gamma, mean, var, dgamma, dbeta, dx);
        }));
  });
  add_cuda_float(t, Op::BatchNormBackwardParams, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const int64_t n = a.inputs[1].numel(), c = a.inputs[1].shape()[-1];
    const Layout l = Layout::of(n / c, c);
    const double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
    const auto& in = a.inputs;
    const T *dy = in[0].data<T>(), *x = in[1].data<T>(), *mean = in[2].data<T>(),
            *var = in[3].data<T>();
    T *dgamma = a.outputs[0].data<T>(), *dbeta = a.outputs[1].data<T>();
    return std::unique_ptr<Kernel>(std::make_unique<ScratchKernel>(
        a, l, [=](cudaStream_t s, double* partial, double*, double*) {
          channel_partials(l, SumsOfGradient<T>{dy, x, mean, var, eps}, partial, s);
          finish_param_grads_kernel<<<blocks_for(c), kThreads, 0, s>>>(l, partial, dgamma, dbeta);
        }));
  });
}

}  // namespace advmoe
