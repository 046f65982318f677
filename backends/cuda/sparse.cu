// topk_mask on CUDA with the semantics of backends/host/sparse_loops.cpp (ops/sparse.h): the k
// items of largest importance, ties to the lower index. Importances become order-preserving
// 64-bit keys (NaN lowest); one block radix-selects the k-th largest key, scans for the cut among
// its ties in index order, and a grid writes the masks. The per-filter L1 norms are summed in
// double in index order, as the host loop sums them, so both backends keep the same filters.
#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"
#include "ops/sparse.h"

namespace advmoe {

namespace {

using Key = unsigned long long;

// NaN -> 0, v >= 0 -> bits(v) + 1: integer order is importance order.
__device__ Key key_of(double v) {
  if (isnan(v)) return 0;
  return static_cast<Key>(__double_as_longlong(v)) + 1;
}

template <typename T>
__global__ void importance_kernel(const T* scores, Key* keys, int64_t items, int64_t row,
                                  bool structured) {
  ADVMOE_GRID_STRIDE(i, items) {
    double v = 0;
    if (structured)
      for (int64_t j = 0; j < row; ++j) v += fabs(static_cast<double>(scores[i * row + j]));
    else
      v = fabs(static_cast<double>(scores[i]));
    keys[i] = key_of(v);
  }
}

// One block. result[0] = the k-th largest key, result[1] = the largest index among its ties
// that is kept.
__global__ void select_kernel(const Key* keys, int64_t items, int64_t k, Key* result) {
  Key prefix = 0, high = 0;  // high: the bits decided so far
  long long want = k;
  for (int bit = 63; bit >= 0; --bit) {
    const Key b = Key{1} << bit;
    long long c = 0;
    for (int64_t i = threadIdx.x; i < items; i += kThreads)
      c += (keys[i] & high) == prefix && (keys[i] & b) != 0;
    // block_sum adds doubles in a fixed order: exact for counts below 2^53.
    c = static_cast<long long>(block_sum(static_cast<double>(c)));
    if (c >= want)
      prefix |= b;
    else
      want -= c;
    high |= b;
  }
  // The want-th tie (key == prefix) in index order: an inclusive scan per chunk of kThreads.
  __shared__ long long scan[kThreads];
  __shared__ long long base;
  __shared__ long long cut;
  if (threadIdx.x == 0) base = 0, cut = -1;
  __syncthreads();
  for (int64_t start = 0; start < items; start += kThreads) {
    const int64_t i = start + threadIdx.x;
    const long long tie = i < items && keys[i] == prefix;
    scan[threadIdx.x] = tie;
    __syncthreads();
    for (int offset = 1; offset < kThreads; offset *= 2) {
      long long add = threadIdx.x >= offset ? scan[threadIdx.x - offset] : 0;
      __syncthreads();
      scan[threadIdx.x] += add;
      __syncthreads();
    }
    if (tie && base + scan[threadIdx.x] == want) cut = i;
    __syncthreads();
    if (threadIdx.x == 0) base += scan[kThreads - 1];
    __syncthreads();
    if (cut >= 0) break;
  }
  if (threadIdx.x == 0) {
    result[0] = prefix;
    result[1] = static_cast<Key>(cut);
  }
}

__device__ bool kept(const Key* keys, const Key* result, int64_t item) {
  return keys[item] > result[0] ||
         (keys[item] == result[0] && item <= static_cast<long long>(result[1]));
}

template <typename T>
__global__ void mask_kernel(const Key* keys, const Key* result, T* mask, int64_t total, int64_t row,
                            bool structured) {
  ADVMOE_GRID_STRIDE(i, total) mask[i] = kept(keys, result, structured ? i / row : i) ? T(1) : T(0);
}

template <typename T>
__global__ void filter_mask_kernel(const T* mask, T* filter_mask, int64_t filters, int64_t row) {
  ADVMOE_GRID_STRIDE(o, filters) {
    T any = 0;
    for (int64_t j = 0; j < row && any == T(0); ++j) any = mask[o * row + j];
    filter_mask[o] = any;
  }
}

template <typename T>
class TopkMaskKernel : public Kernel {
 public:
  explicit TopkMaskKernel(const KernelArgs& a)
      : stream_(cuda_backend(a.backend).stream()),
        attrs_(std::get<TopkMaskAttrs>(a.node.attrs)),
        scores_(a.inputs[0].data<T>()),
        mask_(a.outputs[0].data<T>()),
        filter_mask_(a.outputs[1].data<T>()),
        total_(a.inputs[0].numel()),
        filters_(a.inputs[0].shape()[0]),
        row_(total_ / filters_),
        items_(attrs_.structured ? filters_ : total_),
        k_(kept_items(attrs_.keep, items_)) {}
  size_t scratchpad_bytes() const override { return sizeof(Key) * static_cast<size_t>(items_ + 2); }
  void set_scratchpad(void* scratchpad) override { keys_ = static_cast<Key*>(scratchpad); }
  void run() override {
    Key* result = keys_ + items_;
    importance_kernel<<<blocks_for(items_), kThreads, 0, stream_>>>(scores_, keys_, items_, row_,
                                                                    attrs_.structured);
    select_kernel<<<1, kThreads, 0, stream_>>>(keys_, items_, k_, result);
    mask_kernel<<<blocks_for(total_), kThreads, 0, stream_>>>(keys_, result, mask_, total_, row_,
                                                              attrs_.structured);
    filter_mask_kernel<<<blocks_for(filters_), kThreads, 0, stream_>>>(mask_, filter_mask_,
                                                                       filters_, row_);
    ADVMOE_CUDA_CHECK(cudaGetLastError());
  }

 private:
  cudaStream_t stream_;
  TopkMaskAttrs attrs_;
  const T* scores_;
  T *mask_, *filter_mask_;
  int64_t total_, filters_, row_, items_, k_;
  Key* keys_ = nullptr;
};

}  // namespace

void add_cuda_sparse(KernelTable& t) {
  add_cuda_float(t, Op::TopkMask, 0, [](auto tag, const KernelArgs& a) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    return std::make_unique<TopkMaskKernel<T>>(a);
  });
}

}  // namespace advmoe
