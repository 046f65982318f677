// expert_conv on cuDNN with real sparse execution, the CUDA twin of backends/cpu/expert_conv.cpp:
// the route is copied to the host (the one synchronization of this op: cuDNN needs each group's
// size to pick its batch), samples are counting-sorted by expert, and for each expert its rows are
// gathered into a staging buffer, convolved with that expert's weight slice only, and scattered
// back. cuDNN calls exist for bucket batch sizes 1, 2, 4, 8, 16, 32, 48, ... N, set up when the
// Plan is compiled; a group of g samples runs on the smallest bucket >= g with the padding rows
// zeroed (so they add nothing to dw). The dense mode convolves every sample with all experts and
// selects: the parity oracle, with no host round trip. A forward with a folded batch norm
// (compile/eval_fusion.h) ends with the bias-and-ReLU epilogue over y.
#include <algorithm>
#include <memory>
#include <vector>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cudnn_conv.h"
#include "backends/expert_grouping.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

// staging[r] = source[members[r]] for r < count, zero rows for count <= r < rows.
template <typename T>
__global__ void gather_rows_kernel(T* staging, const T* source, const int32_t* members,
                                   int64_t count, int64_t rows, int64_t row_length) {
  ADVMOE_GRID_STRIDE(i, rows * row_length) {
    int64_t r = i / row_length, k = i % row_length;
    staging[i] = r < count ? source[members[r] * row_length + k] : T(0);
  }
}

// target[members[r]] = staging[r] for r < count.
template <typename T>
__global__ void scatter_rows_kernel(T* target, const T* staging, const int32_t* members,
                                    int64_t count, int64_t row_length) {
  ADVMOE_GRID_STRIDE(i, count * row_length) {
    int64_t r = i / row_length, k = i % row_length;
    target[members[r] * row_length + k] = staging[i];
  }
}

// Dense mode, forward: y[i, p, :] = all[i, p, route[i] * width : (route[i] + 1) * width].
template <typename T>
__global__ void select_expert_kernel(T* y, const T* all, const int32_t* route, int64_t n,
                                     int64_t pixels, int64_t width, int64_t experts) {
  ADVMOE_GRID_STRIDE(i, n * pixels * width) {
    int64_t c = i % width, pixel = i / width, sample = pixel / pixels;
    y[i] = all[pixel * experts * width + route[sample] * width + c];
  }
}

// Dense mode, backward: all[i, p, k] = dy[i, p, k - route[i] * width] inside the routed slice,
// zero elsewhere.
template <typename T>
__global__ void expand_expert_kernel(T* all, const T* dy, const int32_t* route, int64_t n,
                                     int64_t pixels, int64_t width, int64_t experts) {
  ADVMOE_GRID_STRIDE(i, n * pixels * experts * width) {
    int64_t k = i % (experts * width), pixel = i / (experts * width), sample = pixel / pixels;
    int64_t e = k / width;
    all[i] = e == route[sample] ? dy[pixel * width + k % width] : T(0);
  }
}

using Pass = ExpertPass;

template <typename T>
class CudaExpertConv : public Kernel {
 public:
  CudaExpertConv(const KernelArgs& a, Pass pass)
      : backend_(cuda_backend(a.backend)),
        pass_(pass),
        attrs_(std::get<ExpertConvAttrs>(a.node.attrs)),
        node_name_(a.node.name),
        io_(expert_conv_tensors(a, pass)),
        e_(ExpertConvGeometry::make(io_.x.shape(), io_.w.shape(), attrs_)),
        groups_(node_label(a.node), e_.n, attrs_.experts, e_.bucket_rows) {
    const Tensor& x = io_.x;
    x_ = x.data<T>();
    w_ = io_.w.data<T>();
    y_ = io_.y.data<T>();
    if (io_.bias.defined()) bias_ = io_.bias.data<T>();
    route_ = io_.route.data<int32_t>();
    experts_ = attrs_.experts;
    pixels_ = e_.conv.ho * e_.conv.wo;
    ConvDirection direction = pass == Pass::Forward        ? ConvDirection::Forward
                              : pass == Pass::BackwardData ? ConvDirection::BackwardData
                                                           : ConvDirection::BackwardFilter;
    for (int64_t rows : e_.bucket_rows) {
      ConvGeometry g = e_.conv;
      g.n = rows;
      calls_.push_back(std::make_unique<CudnnConvCall<T>>(backend_, direction, g, node_name_));
    }
    // Dense mode reads x / writes dx in place; only the all-experts output needs staging.
    if (!attrs_.dense) staging_x_ = backend_.allocate(x.shape(), x.dtype());
    staging_y_ = backend_.allocate(Shape{e_.n, e_.conv.ho, e_.conv.wo, e_.conv.o}, x.dtype());
    if (!attrs_.dense) {
      order_device_ = backend_.allocate(Shape{e_.n}, DType::I32);
      ADVMOE_CUDA_CHECK(cudaMallocHost(&route_host_, sizeof(int32_t) * static_cast<size_t>(e_.n)));
      ADVMOE_CUDA_CHECK(cudaMallocHost(&order_host_, sizeof(int32_t) * static_cast<size_t>(e_.n)));
    }
  }

  ~CudaExpertConv() override {
    if (route_host_) cudaFreeHost(route_host_);
    if (order_host_) cudaFreeHost(order_host_);
  }

  size_t scratchpad_bytes() const override {
    size_t bytes = 0;
    for (const auto& call : calls_) bytes = std::max(bytes, call->workspace_bytes());
    return bytes;
  }
  void set_scratchpad(void* scratchpad) override { workspace_ = scratchpad; }
  size_t owned_bytes() const override {
    return staging_x_.bytes() + staging_y_.bytes() + order_device_.bytes();
  }

  void run() override {
    if (attrs_.dense)
      run_dense();
    else
      run_sparse();
    if (bias_ || attrs_.relu) {
      const int64_t total = e_.n * e_.y_row;
      conv_epilogue_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(y_, bias_, attrs_.relu,
                                                                         total, e_.width);
      ADVMOE_CUDA_CHECK(cudaGetLastError());
    }
  }

 private:
  cudaStream_t stream() const { return backend_.stream(); }

  void convolve(size_t bucket, T* sx, T* sy, T* slice) {
    const CudnnConvCall<T>& call = *calls_[bucket];
    if (pass_ == Pass::Forward) call.forward(sx, slice, sy, workspace_);
    if (pass_ == Pass::BackwardData) call.backward_data(sy, slice, sx, workspace_);
    if (pass_ == Pass::BackwardWeights) call.backward_filter(sx, sy, slice, workspace_);
  }

  // Route to the host, checked and counting-sorted into order_host_ (backends/expert_grouping.h);
  // the order goes back to the device for the gathers.
  void sort_by_expert() {
    const size_t bytes = sizeof(int32_t) * static_cast<size_t>(e_.n);
    ADVMOE_CUDA_CHECK(
        cudaMemcpyAsync(route_host_, route_, bytes, cudaMemcpyDeviceToHost, stream()));
    ADVMOE_CUDA_CHECK(cudaStreamSynchronize(stream()));
    groups_.sort(route_host_, order_host_);
    // Safe to reuse order_host_ next run: that run's synchronization above waits for this copy.
    ADVMOE_CUDA_CHECK(
        cudaMemcpyAsync(order_device_.raw(), order_host_, bytes, cudaMemcpyHostToDevice, stream()));
  }

  void run_sparse() {
    sort_by_expert();
    T* sx = staging_x_.data<T>();
    T* sy = staging_y_.data<T>();
    const int32_t* order = order_device_.data<int32_t>();
    for (int e = 0; e < experts_; ++e) {
      const int64_t first = groups_.first(e), g = groups_.size(e);
      T* slice = w_ + e * e_.w_slice;
      if (g == 0) {
        // An expert no sample chose gets a zero gradient (its slice is not written otherwise).
        if (pass_ == Pass::BackwardWeights)
          ADVMOE_CUDA_CHECK(cudaMemsetAsync(slice, 0, sizeof(T) * e_.w_slice, stream()));
        continue;
      }
      const size_t bucket = groups_.bucket(g);
      const int64_t rows = groups_.bucket_rows(bucket);
      const int32_t* members = order + first;
      if (pass_ != Pass::BackwardData)
        gather_rows_kernel<<<blocks_for(rows * e_.x_row), kThreads, 0, stream()>>>(
            sx, x_, members, g, rows, e_.x_row);
      if (pass_ != Pass::Forward)
        gather_rows_kernel<<<blocks_for(rows * e_.y_row), kThreads, 0, stream()>>>(
            sy, y_, members, g, rows, e_.y_row);
      ADVMOE_CUDA_CHECK(cudaGetLastError());
      convolve(bucket, sx, sy, slice);
      if (pass_ == Pass::Forward)
        scatter_rows_kernel<<<blocks_for(g * e_.y_row), kThreads, 0, stream()>>>(y_, sy, members, g,
                                                                                 e_.y_row);
      if (pass_ == Pass::BackwardData)
        scatter_rows_kernel<<<blocks_for(g * e_.x_row), kThreads, 0, stream()>>>(x_, sx, members, g,
                                                                                 e_.x_row);
      ADVMOE_CUDA_CHECK(cudaGetLastError());
    }
  }

  // Every expert for every sample, then select (forward) or expand (backward) the route's slice.
  // The route is not checked here (no host copy): the dense mode is a test oracle.
  void run_dense() {
    T* sy = staging_y_.data<T>();
    const int64_t all = e_.n * pixels_ * e_.width * experts_;
    if (pass_ != Pass::Forward) {
      expand_expert_kernel<<<blocks_for(all), kThreads, 0, stream()>>>(sy, y_, route_, e_.n,
                                                                       pixels_, e_.width, experts_);
      ADVMOE_CUDA_CHECK(cudaGetLastError());
    }
    convolve(0, const_cast<T*>(x_), sy, w_);
    if (pass_ == Pass::Forward) {
      select_expert_kernel<<<blocks_for(e_.n * pixels_ * e_.width), kThreads, 0, stream()>>>(
          y_, sy, route_, e_.n, pixels_, e_.width, experts_);
      ADVMOE_CUDA_CHECK(cudaGetLastError());
    }
  }

  CudaBackend& backend_;
  Pass pass_;
  ExpertConvAttrs attrs_;
  std::string node_name_;
  ExpertConvTensors io_;
  ExpertConvGeometry
      e_;  // per-sample and per-expert sizes, one expert's conv, the bucket batch sizes
  ExpertGroups groups_;
  T *x_ = nullptr, *w_ = nullptr, *y_ = nullptr;  // x/dx, w/dw, y/dy depending on the pass
  const T* bias_ = nullptr;                       // forward with a folded batch norm
  const int32_t* route_ = nullptr;
  int64_t pixels_ = 0;
  int experts_ = 1;
  std::vector<std::unique_ptr<CudnnConvCall<T>>> calls_;
  Tensor staging_x_, staging_y_, order_device_;
  int32_t *route_host_ = nullptr, *order_host_ = nullptr;  // pinned
  void* workspace_ = nullptr;
};

template <Pass pass>
void add_expert_conv(KernelTable& t, Op op) {
  add_cuda_float(t, op, 0, [](auto tag, const KernelArgs& a) {
    return std::unique_ptr<Kernel>(std::make_unique<CudaExpertConv<decltype(tag)>>(a, pass));
  });
}

}  // namespace

void add_cuda_expert_conv(KernelTable& t) {
  add_expert_conv<Pass::Forward>(t, Op::ExpertConv);
  add_expert_conv<Pass::BackwardData>(t, Op::ExpertConvBackwardData);
  add_expert_conv<Pass::BackwardWeights>(t, Op::ExpertConvBackwardWeights);
}

}  // namespace advmoe
