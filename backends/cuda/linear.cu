// Linear layers on cuBLAS: y = x w^T + b and its two backward products, with the row-major
// tensors read as column-major transposes (row-major C = A B is column-major C^T = B^T A^T).
// Shapes: x [N, in], w [out, in] (PyTorch's layout), y [N, out].
#include "backends/cuda/cuda_kernels.h"
#include "graph/attrs.h"

namespace advmoe {

namespace {

template <typename T>
__global__ void add_bias_kernel(T* y, const T* bias, int64_t total, int64_t out) {
  ADVMOE_GRID_STRIDE(i, total)
  y[i] += bias[i % out];
}

// Column-major C[m, n] = op(A)[m, k] op(B)[k, n] for float or double.
void gemm(cublasHandle_t h, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k,
          const float* a, int lda, const float* b, int ldb, float* c, int ldc) {
  const float one = 1, zero = 0;
  ADVMOE_CUBLAS_CHECK(cublasSgemm(h, op_a, op_b, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc));
}

void gemm(cublasHandle_t h, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k,
          const double* a, int lda, const double* b, int ldb, double* c, int ldc) {
  const double one = 1, zero = 0;
  ADVMOE_CUBLAS_CHECK(cublasDgemm(h, op_a, op_b, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc));
}

}  // namespace

void add_cuda_linear(KernelTable& t) {
  add_cuda_float(t, Op::Linear, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int n = static_cast<int>(a.inputs[0].shape()[0]), in = static_cast<int>(a.inputs[0].shape()[1]),
        out = static_cast<int>(a.inputs[1].shape()[0]);
    const T *x = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
    const T* bias = a.inputs.size() == 3 ? a.inputs[2].data<T>() : nullptr;
    T* y = a.outputs[0].data<T>();
    cublasHandle_t h = cuda_backend(a.backend).cublas();
    return stream_kernel(a, [=](cudaStream_t s) {
      // y^T[out, n] = w[out, in] x^T[in, n]
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, w, in, x, in, y, out);
      int64_t total = static_cast<int64_t>(n) * out;
      if (bias) add_bias_kernel<<<blocks_for(total), kThreads, 0, s>>>(y, bias, total, out);
    });
  });
  add_cuda_float(t, Op::LinearBackwardData, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int n = static_cast<int>(a.inputs[0].shape()[0]),
        out = static_cast<int>(a.inputs[0].shape()[1]),
        in = static_cast<int>(a.inputs[1].shape()[1]);
    const T *dy = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
    T* dx = a.outputs[0].data<T>();
    cublasHandle_t h = cuda_backend(a.backend).cublas();
    return stream_kernel(a, [=](cudaStream_t) {
      // dx^T[in, n] = w^T[in, out] dy^T[out, n]
      gemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, w, in, dy, out, dx, in);
    });
  });
  add_cuda_float(t, Op::LinearBackwardWeights, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    int n = static_cast<int>(a.inputs[0].shape()[0]),
        out = static_cast<int>(a.inputs[0].shape()[1]),
        in = static_cast<int>(a.inputs[1].shape()[1]);
    const T *dy = a.inputs[0].data<T>(), *x = a.inputs[1].data<T>();
    T* dw = a.outputs[0].data<T>();
    cublasHandle_t h = cuda_backend(a.backend).cublas();
    return stream_kernel(a, [=](cudaStream_t) {
      // dw^T[in, out] = x^T[in, n] dy[n, out]
      gemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, x, in, dy, out, dw, in);
    });
  });
}

}  // namespace advmoe
