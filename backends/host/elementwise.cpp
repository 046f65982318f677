// Elementwise and reduction loops shared by both CPU backends: serial for "reference",
// OpenMP-parallel for "onednn" (which replaces relu/add/mul/scale with oneDNN primitives, see
// backends/cpu/eltwise.cpp). Reductions accumulate in double.
#include <cstring>

#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"

namespace advmoe {

namespace {

// Registers a kernel whose body is `loop(T{}, args, parallel)` for either float type.
template <typename Loop>
void add_float_kernel(KernelTable& t, Op op, bool parallel, Loop loop) {
  put(t, op, [loop, parallel](const KernelArgs& a) {
    DType dt = a.outputs[0].dtype();
    return by_float_type(dt, [&](auto tag) { return loop(tag, a, parallel); });
  });
}

}  // namespace

void add_elementwise_loops(KernelTable& t, bool par) {
  add_float_kernel(t, Op::Fill, par, [](auto tag, const KernelArgs& a, bool parallel) {
    using T = decltype(tag);
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    T value = static_cast<T>(std::get<ShapeAttrs>(a.node.attrs).value);
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < n; ++i) y[i] = value;
    });
  });
  add_float_kernel(t, Op::Relu, par, [](auto tag, const KernelArgs& a, bool parallel) {
    using T = decltype(tag);
    const T* x = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : T(0);
    });
  });
  add_float_kernel(t, Op::ReluBackward, par, [](auto tag, const KernelArgs& a, bool parallel) {
    using T = decltype(tag);
    const T *dy = a.inputs[0].data<T>(), *y = a.inputs[1].data<T>();
    T* dx = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0 ? dy[i] : T(0);
    });
  });
  // add, add_n: out = sum of all inputs.
  for (Op op : {Op::Add, Op::AddN})
    add_float_kernel(t, op, par, [](auto tag, const KernelArgs& a, bool parallel) {
      using T = decltype(tag);
      std::vector<const T*> terms;
      for (const Tensor& t : a.inputs) terms.push_back(t.data<T>());
      T* y = a.outputs[0].data<T>();
      int64_t n = a.outputs[0].numel();
      return loop_kernel([=] {
#pragma omp parallel for if (parallel)
        for (int64_t i = 0; i < n; ++i) {
          T acc = terms[0][i];
          for (size_t k = 1; k < terms.size(); ++k) acc += terms[k][i];
          y[i] = acc;
        }
      });
    });
  add_float_kernel(t, Op::Mul, par, [](auto tag, const KernelArgs& a, bool parallel) {
    using T = decltype(tag);
    const T *p = a.inputs[0].data<T>(), *q = a.inputs[1].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < n; ++i) y[i] = p[i] * q[i];
    });
  });
  add_float_kernel(t, Op::Scale, par, [](auto tag, const KernelArgs& a, bool parallel) {
    using T = decltype(tag);
    const T* x = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    T alpha = static_cast<T>(std::get<ScaleAttrs>(a.node.attrs).alpha);
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
    });
  });
  for (Op op : {Op::Reshape, Op::StopGradient})
    add_float_kernel(t, op, par, [](auto tag, const KernelArgs& a, bool) {
      using T = decltype(tag);
      const T* x = a.inputs[0].data<T>();
      T* y = a.outputs[0].data<T>();
      size_t bytes = a.outputs[0].bytes();
      return loop_kernel([=] { std::memcpy(y, x, bytes); });
    });
  for (Op op : {Op::Sum, Op::Mean})
    add_float_kernel(t, op, par, [op](auto tag, const KernelArgs& a, bool parallel) {
      using T = decltype(tag);
      const T* x = a.inputs[0].data<T>();
      T* y = a.outputs[0].data<T>();
      int64_t n = a.inputs[0].numel();
      double divisor = op == Op::Mean ? static_cast<double>(n) : 1.0;
      return loop_kernel([=] {
        double acc = 0;
#pragma omp parallel for reduction(+ : acc) if (parallel)
        for (int64_t i = 0; i < n; ++i) acc += x[i];
        y[0] = static_cast<T>(acc / divisor);
      });
    });
  add_float_kernel(t, Op::BroadcastScalar, par, [](auto tag, const KernelArgs& a, bool parallel) {
    using T = decltype(tag);
    const T* s = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    int64_t n = a.outputs[0].numel();
    double factor = std::get<ShapeAttrs>(a.node.attrs).value;
    return loop_kernel([=] {
      T v = static_cast<T>(factor * s[0]);
#pragma omp parallel for if (parallel)
      for (int64_t i = 0; i < n; ++i) y[i] = v;
    });
  });
}

}  // namespace advmoe
