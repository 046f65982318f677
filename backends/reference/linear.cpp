// Reference linear kernels: y = x w^T + b and its two backward products, double accumulation.
#include "backends/host/dispatch.h"
#include "backends/reference/reference_kernels.h"

namespace advmoe {

namespace {

// out[i, j] = sum_k a[i, k] * b[j, k] (+ bias[j]), with strides that let one loop serve
// forward (x, w), backward_data (dy, w^T) and backward_weights (dy^T, x).
struct MatmulView {
  int64_t rows, cols, inner;
  int64_t a_row, a_inner, b_col, b_inner;
};

template <typename T>
void matmul(const MatmulView& m, const T* a, const T* b, const T* bias, T* out) {
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) {
      double acc = bias ? bias[j] : 0.0;
      for (int64_t k = 0; k < m.inner; ++k)
        acc += static_cast<double>(a[i * m.a_row + k * m.a_inner]) * b[j * m.b_col + k * m.b_inner];
      out[i * m.cols + j] = static_cast<T>(acc);
    }
}

}  // namespace

void add_reference_linear(KernelTable& t) {
  put(t, Op::Linear, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.inputs[0].shape()[0], in = a.inputs[0].shape()[1], out = a.inputs[1].shape()[0];
      MatmulView m{n, out, in, in, 1, in, 1};
      const T *x = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
      const T* b = a.inputs.size() == 3 ? a.inputs[2].data<T>() : nullptr;
      T* y = a.outputs[0].data<T>();
      return loop_kernel([=] { matmul(m, x, w, b, y); });
    });
  });
  put(t, Op::LinearBackwardData, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.inputs[0].shape()[0], out = a.inputs[0].shape()[1], in = a.inputs[1].shape()[1];
      MatmulView m{n, in, out, out, 1, 1, in};  // dx[n, i] = sum_o dy[n, o] w[o, i]
      const T *dy = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
      T* dx = a.outputs[0].data<T>();
      return loop_kernel([=] { matmul<T>(m, dy, w, nullptr, dx); });
    });
  });
  put(t, Op::LinearBackwardWeights, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.inputs[0].shape()[0], out = a.inputs[0].shape()[1], in = a.inputs[1].shape()[1];
      MatmulView m{out, in, n, 1, out, 1, in};  // dw[o, i] = sum_n dy[n, o] x[n, i]
      const T *dy = a.inputs[0].data<T>(), *x = a.inputs[1].data<T>();
      T* dw = a.outputs[0].data<T>();
      return loop_kernel([=] { matmul<T>(m, dy, x, nullptr, dw); });
    });
  });
}

}  // namespace advmoe
