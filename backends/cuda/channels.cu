// Channel-axis ops on CUDA (NHWC: channels are the last, contiguous axis), with the semantics of
// backends/host/concat_loops.cpp, channel_sum and global_avg_pool: concat and slice are strided
// 2-D copies, channel_affine a per-channel multiply-add, channel_sum (the bias gradient) a
// column sum in double, global average pooling a per-(sample, channel) mean.
#include <vector>

#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

template <typename T>
__global__ void affine_kernel(const T* x, T* y, const T* scale, const T* shift, int64_t n,
                              int64_t c) {
  ADVMOE_GRID_STRIDE(i, n)
  y[i] = x[i] * scale[i % c] + shift[i % c];
}

// One block per channel: rows summed in a fixed order (deterministic, double accumulation).
template <typename T>
__global__ void channel_sum_kernel(const T* x, T* out, int64_t rows, int64_t c) {
  const int64_t channel = blockIdx.x;
  double acc = 0;
  for (int64_t row = threadIdx.x; row < rows; row += kThreads) acc += x[row * c + channel];
  double total = block_sum(acc);
  if (threadIdx.x == 0) out[channel] = static_cast<T>(total);
}

// Global average pooling [N, HW, C] -> [N, C]: one thread per (sample, channel), summing the
// positions in order (C is contiguous, so neighbouring threads read neighbouring addresses).
template <typename T>
__global__ void global_avg_pool_kernel(const T* in, T* out, int64_t n, int64_t hw, int64_t c) {
  const T inv = static_cast<T>(1.0 / static_cast<double>(hw));
  ADVMOE_GRID_STRIDE(i, n * c) {
    const int64_t b = i / c, k = i % c;
    T acc = 0;
    for (int64_t p = 0; p < hw; ++p) acc += in[(b * hw + p) * c + k];
    out[i] = acc * inv;
  }
}

template <typename T>
__global__ void global_avg_pool_backward_kernel(const T* dy, T* dx, int64_t n, int64_t hw,
                                                int64_t c) {
  const T inv = static_cast<T>(1.0 / static_cast<double>(hw));
  ADVMOE_GRID_STRIDE(i, n * hw * c)
  dx[i] = dy[(i / (hw * c)) * c + i % c] * inv;
}

// channel_affine's constants, copied to the device once when the kernel is compiled.
template <typename T>
class AffineKernel : public Kernel {
 public:
  explicit AffineKernel(const KernelArgs& a)
      : stream_(cuda_backend(a.backend).stream()),
        x_(a.inputs[0].data<T>()),
        y_(a.outputs[0].data<T>()),
        n_(a.inputs[0].numel()) {
    const AffineAttrs& attrs = std::get<AffineAttrs>(a.node.attrs);
    c_ = static_cast<int64_t>(attrs.scale.size());
    std::vector<T> host(attrs.scale.begin(), attrs.scale.end());
    host.insert(host.end(), attrs.shift.begin(), attrs.shift.end());
    ADVMOE_CUDA_CHECK(cudaMalloc(&constants_, host.size() * sizeof(T)));
    ADVMOE_CUDA_CHECK(
        cudaMemcpy(constants_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~AffineKernel() override { cudaFree(constants_); }
  size_t owned_bytes() const override { return 2 * static_cast<size_t>(c_) * sizeof(T); }
  void run() override {
    affine_kernel<<<blocks_for(n_), kThreads, 0, stream_>>>(x_, y_, constants_, constants_ + c_, n_,
                                                            c_);
    ADVMOE_CUDA_CHECK(cudaGetLastError());
  }

 private:
  cudaStream_t stream_;
  const T* x_;
  T* y_;
  int64_t n_, c_ = 0;
  T* constants_ = nullptr;
};

}  // namespace

void add_cuda_channels(KernelTable& t) {
  add_cuda_float(t, Op::ChannelAffine, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    return std::unique_ptr<Kernel>(std::make_unique<AffineKernel<T>>(a));
  });
  add_cuda_float(t, Op::Concat, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t total = a.outputs[0].shape()[-1], rows = a.outputs[0].numel() / total;
    std::vector<const T*> parts;
    std::vector<int64_t> widths;
    for (const Tensor& t : a.inputs) {
      parts.push_back(t.data<T>());
      widths.push_back(t.shape()[-1]);
    }
    T* out = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      int64_t offset = 0;
      for (size_t i = 0; i < parts.size(); ++i) {
        ADVMOE_CUDA_CHECK(cudaMemcpy2DAsync(out + offset, total * sizeof(T), parts[i],
                                            widths[i] * sizeof(T), widths[i] * sizeof(T), rows,
                                            cudaMemcpyDeviceToDevice, s));
        offset += widths[i];
      }
    });
  });
  add_cuda_float(t, Op::ChannelSlice, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const SliceAttrs slice = std::get<SliceAttrs>(a.node.attrs);
    int64_t width = a.inputs[0].shape()[-1], rows = a.inputs[0].numel() / width;
    const T* in = a.inputs[0].data<T>();
    T* out = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      ADVMOE_CUDA_CHECK(cudaMemcpy2DAsync(out, slice.count * sizeof(T), in + slice.offset,
                                          width * sizeof(T), slice.count * sizeof(T), rows,
                                          cudaMemcpyDeviceToDevice, s));
    });
  });
  for (bool forward : {true, false})
    add_cuda_float(
        t, forward ? Op::GlobalAvgPool : Op::GlobalAvgPoolBackward, 0,
        [forward](auto tag, const KernelArgs& a) {
          using T = decltype(tag);
          const Shape& x = forward ? a.inputs[0].shape() : a.outputs[0].shape();
          int64_t n = x[0], hw = x[1] * x[2], c = x[3];
          const T* in = a.inputs[0].data<T>();
          T* out = a.outputs[0].data<T>();
          return stream_kernel(a, [=](cudaStream_t s) {
            if (forward)
              global_avg_pool_kernel<<<blocks_for(n * c), kThreads, 0, s>>>(in, out, n, hw, c);
            else
              global_avg_pool_backward_kernel<<<blocks_for(n * hw * c), kThreads, 0, s>>>(in, out,
                                                                                          n, hw, c);
          });
        });
  add_cuda_float(t, Op::ChannelSum, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int64_t c = a.outputs[0].numel(), rows = a.inputs[0].numel() / c;
    const T* x = a.inputs[0].data<T>();
    T* out = a.outputs[0].data<T>();
    return stream_kernel(a, [=](cudaStream_t s) {
      channel_sum_kernel<<<static_cast<unsigned>(c), kThreads, 0, s>>>(x, out, rows, c);
    });
  });
}

}  // namespace advmoe
