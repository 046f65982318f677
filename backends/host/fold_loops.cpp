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
    const int64_t filters = a.inputs[0].shape()[0];
    const int64_t channels = a.inputs[1].shape()[0];       // filters, or an expert bank's width
    const int64_t filter = a.inputs[0].numel() / filters;  // kh * kw * C, OHWI
    const T *w = a.inputs[0].data<T>(), *gamma = a.inputs[1].data<T>(),
            *beta = a.inputs[2].data<T>(), *mean = a.inputs[3].data<T>(),
            *var = a.inputs[4].data<T>();
    const T* bias = a.inputs.size() == 6 ? a.inputs[5].data<T>() : nullptr;
    T *folded_w = a.outputs[0].data<T>(), *folded_b = a.outputs[1].data<T>();
    return loop_kernel([=] {
      // The same expression, in double, as batch norm's eval-mode scale.
      auto scale = [=](int64_t c) {
        return static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
      };
#pragma omp parallel for if (parallel)
      for (int64_t o = 0; o < filters; ++o) {
        const double s = scale(o % channels);
        for (int64_t i = 0; i < filter; ++i)
          folded_w[o * filter + i] = static_cast<T>(w[o * filter + i] * s);
      }
      for (int64_t c = 0; c < channels; ++c) {
        double b = bias ? static_cast<double>(bias[c]) : 0.0;
        folded_b[c] = static_cast<T>((b - mean[c]) * scale(c) + beta[c]);
      }
    });
  });
}

}  // namespace

void add_fold_loops(KernelTable& t, bool parallel) {
  put(t, Op::FoldBatchNorm, bind_parallel(fold_batch_norm_kernel, parallel));
}

}  // namespace advmoe
