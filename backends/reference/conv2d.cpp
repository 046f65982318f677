// Reference conv2d kernels: direct loops in NHWC/OHWI with double accumulation. They are the
// oracle the oneDNN kernels are tested against, and they run f64 for gradient checks.
#include <algorithm>
#include <memory>
#include <vector>

#include "backends/host/dispatch.h"
#include "backends/reference/conv_loops.h"
#include "backends/reference/reference_kernels.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

template <typename T>
void channel_sum(int64_t rows, int64_t c, const T* x, T* out) {
  for (int64_t k = 0; k < c; ++k) {
    double acc = 0;
    for (int64_t r = 0; r < rows; ++r) acc += x[r * c + k];
    out[k] = static_cast<T>(acc);
  }
}

}  // namespace

void add_reference_conv(KernelTable& t) {
  put(t, Op::Conv2d, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      const ConvAttrs& attrs = std::get<ConvAttrs>(a.node.attrs);
      ConvGeometry g = ConvGeometry::make(a.inputs[0].shape(), a.inputs[1].shape(), attrs);
      const T *x = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
      const T* b = a.inputs.size() == 3 ? a.inputs[2].data<T>() : nullptr;
      T* y = a.outputs[0].data<T>();
      const bool relu = attrs.relu;  // fused by compile/eval_fusion.h
      const int64_t n = a.outputs[0].numel();
      return loop_kernel([=] {
        conv_forward(g, x, w, b, y);
        if (relu) relu_in_place(y, n);
      });
    });
  });
  put(t, Op::Conv2dBackwardData, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      ConvGeometry g = ConvGeometry::make(a.outputs[0].shape(), a.inputs[1].shape(),
                                          std::get<ConvAttrs>(a.node.attrs));
      const T *dy = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
      T* dx = a.outputs[0].data<T>();
      // Double accumulators, allocated here so that running the kernel allocates nothing.
      auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(a.outputs[0].numel()));
      return loop_kernel([=] { conv_backward_data(g, dy, w, dx, *acc); });
    });
  });
  put(t, Op::Conv2dBackwardWeights, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      ConvGeometry g = ConvGeometry::make(a.inputs[1].shape(), a.outputs[0].shape(),
                                          std::get<ConvAttrs>(a.node.attrs));
      const T *dy = a.inputs[0].data<T>(), *x = a.inputs[1].data<T>();
      T* dw = a.outputs[0].data<T>();
      auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(a.outputs[0].numel()));
      return loop_kernel([=] { conv_backward_weights(g, dy, x, dw, *acc); });
    });
  });
  put(t, Op::ChannelSum, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t c = a.outputs[0].numel(), rows = a.inputs[0].numel() / c;
      const T* x = a.inputs[0].data<T>();
      T* out = a.outputs[0].data<T>();
      return loop_kernel([=] { channel_sum(rows, c, x, out); });
    });
  });
}

}  // namespace advmoe
