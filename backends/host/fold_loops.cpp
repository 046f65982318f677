// fold_batch_norm as a host loop, shared by both CPU backends (serial for "reference", OpenMP
// over output channels for "onednn"): a scale per output channel of the filters, once per Plan
// run, too small to be worth a oneDNN primitive (ResNet-18: 11M multiplies next to ~10^11 in an
// attack step's convs).
#include <cmath>

#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"

namespace advmoe {

namespace {

std::unique_ptr<Kernel> fold_batch_norm_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
    const int64_t out_channels = a.inputs[0].shape()[0];
    const int64_t filter = a.inputs[0].numel() / out_channels;  // kh * kw * C, OHWI
    const T *w = a.inputs[0].data<T>(), *gamma = a.inputs[1].data<T>(),
            *beta = a.inputs[2].data<T>(), *mean = a.inputs[3].data<T>(),
            *var = a.inputs[4].data<T>();
    const T* bias = a.inputs.size() == 6 ? a.inputs[5].data<T>() : nullptr;
    T *folded_w = a.outputs[0].data<T>(), *folded_b = a.outputs[1].data<T>();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t o = 0; o < out_channels; ++o) {
        // The same expression, in double, as batch norm's eval-mode scale.
        double s = static_cast<double>(gamma[o]) / std::sqrt(static_cast<double>(var[o]) + eps);
        for (int64_t i = 0; i < filter; ++i)
          folded_w[o * filter + i] = static_cast<T>(w[o * filter + i] * s);
        double b = bias ? static_cast<double>(bias[o]) : 0.0;
        folded_b[o] = static_cast<T>((b - mean[o]) * s + beta[o]);
      }
    });
  });
}

}  // namespace

void add_fold_loops(KernelTable& t, bool parallel) {
  put(t, Op::FoldBatchNorm, bind_parallel(fold_batch_norm_kernel, parallel));
}

}  // namespace advmoe
