// Element-wise ops, copies and scalar reductions on CUDA, with the semantics of
// backends/host/elementwise.cpp (reductions accumulate in double, in a fixed order: deterministic).
#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

template <typename T>
__global__ void fill_kernel(T* y, int64_t n, T value) {
  ADVMOE_GRID_STRIDE(i, n) y[i] = value;
}

template <typename T>
__global__ void relu_kernel(const T* x, T* y, int64_t n) {
  ADVMOE_GRID_STRIDE(i, n) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
__global__ void relu_backward_kernel(const T* dy, const T* y, T* dx, int64_t n) {
  ADVMOE_GRID_STRIDE(i, n) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

// y = a + b (first pair of an add_n), then y += t for every further term, in the CPU's order.
template <typename T>
__global__ void add_kernel(const T* a, const T* b, T* y, int64_t n) {
  ADVMOE_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

template <typename T>
__global__ void accumulate_kernel(const T* t, T* y, int64_t n) {
  ADVMOE_GRID_STRIDE(i, n) y[i] += t[i];
}

template <typename T>
__global__ void mul_kernel(const T* a, const T* b, T* y, int64_t n) {
  ADVMOE_GRID_STRIDE(i, n) y[i] = a[i] * b[i];
}

template <typename T>
__global__ void scale_kernel(const T* x, T* y, int64_t n, T alpha) {
  ADVMOE_GRID_STRIDE(i, n) y[i] = alpha * x[i];
}

// One block sums x in double (a fixed tree order) and writes sum / divisor.
template <typename T>
__global__ void sum_kernel(const T* x, T* y, int64_t n, double divisor) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) acc += x[i];
  double total = block_sum(acc);
  if (threadIdx.x == 0) y[0] = static_cast<T>(total / divisor);
}

template <typename T>
__global__ void broadcast_kernel(const T* s, T* y, int64_t n, double factor) {
  T v = static_cast<T>(factor * s[0]);
  ADVMOE_GRID_STRIDE(i, n) y[i] = v;
}

}  // namespace

void add_cuda_elementwise(KernelTable& t) {
  add_cuda_float(t, Op::Fill, -1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    T value = static_cast<T>(std::get<ShapeAttrs>(a.node.attrs).value);
    return stream_kernel(
        a, [=](cudaStream_t s) { fill_kernel<<<blocks_for(n), kThreads, 0, s>>>(y, n, value); });
  });
  add_cuda_float(t, Op::Relu, -1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T* x = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    return stream_kernel(
        a, [=](cudaStream_t s) { relu_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, y, n); });
  });
  add_cuda_float(t, Op::ReluBackward, -1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T *dy = a.inputs[0].data<T>(), *y = a.inputs[1].data<T>();
    T* dx = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    return stream_kernel(a, [=](cudaStream_t s) {
      relu_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(dy, y, dx, n);
    });
  });
  for (Op op : {Op::Add, Op::AddN})
    add_cuda_float(t, op, -1, [](auto tag, const KernelArgs& a) {
      using T = decltype(tag);
      std::vector<const T*> terms;
      for (const Tensor& t : a.inputs) terms.push_back(t.data<T>());
      T* y = a.outputs[0].data<T>();
      int64_t n = a.outputs[0].numel();
      return stream_kernel(a, [=](cudaStream_t s) {
        if (terms.size() == 1) {
          cudaMemcpyAsync(y, terms[0], n * sizeof(T), cudaMemcpyDeviceToDevice, s);
          return;
        }
        add_kernel<<<blocks_for(n), kThreads, 0, s>>>(terms[0], terms[1], y, n);
        for (size_t k = 2; k < terms.size(); ++k)
          accumulate_kernel<<<blocks_for(n), kThreads, 0, s>>>(terms[k], y, n);
      });
    });
  add_cuda_float(t, Op::Mul, -1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T *p = a.inputs[0].data<T>(), *q = a.inputs[1].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    return stream_kernel(
        a, [=](cudaStream_t s) { mul_kernel<<<blocks_for(n), kThreads, 0, s>>>(p, q, y, n); });
  });
  add_cuda_float(t, Op::Scale, -1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T* x = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    T alpha = static_cast<T>(std::get<ScaleAttrs>(a.node.attrs).alpha);
    return stream_kernel(a, [=](cudaStream_t s) {
      scale_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, y, n, alpha);
    });
  });
  for (Op op : {Op::Reshape, Op::StopGradient})
    add_cuda_float(t, op, -1, [](auto tag, const KernelArgs& a) {
      using T = decltype(tag);
      const T* x = a.inputs[0].data<T>();
      T* y = a.outputs[0].data<T>();
      size_t bytes = a.outputs[0].bytes();
      return stream_kernel(a, [=](cudaStream_t s) {
        if (x != y) cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice, s);
      });
    });
  for (Op op : {Op::Sum, Op::Mean})
    add_cuda_float(t, op, -1, [op](auto tag, const KernelArgs& a) {
      using T = decltype(tag);
      const T* x = a.inputs[0].data<T>();
      T* y = a.outputs[0].data<T>();
      int64_t n = a.inputs[0].numel();
      double divisor = op == Op::Mean ? static_cast<double>(n) : 1.0;
      return stream_kernel(
          a, [=](cudaStream_t s) { sum_kernel<<<1, kThreads, 0, s>>>(x, y, n, divisor); });
    });
  add_cuda_float(t, Op::BroadcastScalar, -1, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    const T* x = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    double factor = std::get<ShapeAttrs>(a.node.attrs).value;
    return stream_kernel(a, [=](cudaStream_t s) {
      broadcast_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, y, n, factor);
    });
  });
}

}  // namespace advmoe
