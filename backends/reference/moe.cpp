// MoE kernels as plain loops. expert_conv here is its definition: each sample convolved with its
// own expert's weight slice (so `dense` changes nothing). top1 and channel_gate loops are shared
// with the oneDNN backend (OpenMP there).
#include <cmath>
#include <cstring>
#include <memory>

#include "backends/expert_grouping.h"
#include "backends/host/dispatch.h"
#include "backends/reference/conv_loops.h"
#include "backends/reference/reference_kernels.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

// One sample's convolution geometry and the sizes of its slices.
struct ExpertProblem {
  ConvGeometry one;  // batch 1, one expert's output width
  ExpertConvGeometry e;
};

ExpertProblem problem(const Shape& x, const Shape& w, const ExpertConvAttrs& a) {
  ExpertConvAttrs sparse = a;
  sparse.dense = false;  // the definition: each sample with its own expert's slice
  ExpertProblem p{{}, ExpertConvGeometry::make(x, w, sparse)};
  p.one = p.e.conv;
  p.one.n = 1;
  return p;
}

}  // namespace

void add_reference_moe(KernelTable& t) {
  put(t, Op::ExpertConv, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      ExpertConvTensors io = expert_conv_tensors(a, ExpertPass::Forward);
      const ExpertConvAttrs& attrs = std::get<ExpertConvAttrs>(a.node.attrs);
      ExpertProblem p = problem(io.x.shape(), io.w.shape(), attrs);
      const int64_t n = p.e.n, experts = p.e.experts;
      const T *x = io.x.data<T>(), *w = io.w.data<T>();
      const T* bias = io.bias.defined() ? io.bias.data<T>() : nullptr;
      const bool relu = attrs.relu;
      const int32_t* route = io.route.data<int32_t>();
      T* y = io.y.data<T>();
      std::string node = node_label(a.node);
      return loop_kernel([=] {
        check_routes(node, route, n, static_cast<int>(experts));
        for (int64_t i = 0; i < n; ++i)
          conv_forward(p.one, x + i * p.e.x_row, w + route[i] * p.e.w_slice, bias,
                       y + i * p.e.y_row);
        if (relu) relu_in_place(y, n * p.e.y_row);
      });
    });
  });
  put(t, Op::ExpertConvBackwardData, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      ExpertConvTensors io = expert_conv_tensors(a, ExpertPass::BackwardData);
      ExpertProblem p =
          problem(io.x.shape(), io.w.shape(), std::get<ExpertConvAttrs>(a.node.attrs));
      const int64_t n = p.e.n, experts = p.e.experts;
      const T *dy = io.y.data<T>(), *w = io.w.data<T>();
      const int32_t* route = io.route.data<int32_t>();
      T* dx = io.x.data<T>();
      std::string node = node_label(a.node);
      auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(p.e.x_row));
      return loop_kernel([=] {
        check_routes(node, route, n, static_cast<int>(experts));
        for (int64_t i = 0; i < n; ++i)
          conv_backward_data(p.one, dy + i * p.e.y_row, w + route[i] * p.e.w_slice,
                             dx + i * p.e.x_row, *acc);
      });
    });
  });
  put(t, Op::ExpertConvBackwardWeights, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      ExpertConvTensors io = expert_conv_tensors(a, ExpertPass::BackwardWeights);
      ExpertProblem p =
          problem(io.x.shape(), io.w.shape(), std::get<ExpertConvAttrs>(a.node.attrs));
      const int64_t n = p.e.n, experts = p.e.experts, total = io.w.numel(), w_slice = p.e.w_slice;
      const T *dy = io.y.data<T>(), *x = io.x.data<T>();
      const int32_t* route = io.route.data<int32_t>();
      T* dw = io.w.data<T>();
      std::string node = node_label(a.node);
      auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(w_slice));
      auto one = std::make_shared<std::vector<T>>(static_cast<size_t>(w_slice));
      return loop_kernel([=] {
        check_routes(node, route, n, static_cast<int>(experts));
        std::fill(dw, dw + total, T(0));  // experts without samples get exactly zero
        for (int64_t i = 0; i < n; ++i) {
          conv_backward_weights(p.one, dy + i * p.e.y_row, x + i * p.e.x_row, one->data(), *acc);
          T* slice = dw + route[i] * w_slice;
          for (int64_t k = 0; k < w_slice; ++k) slice[k] += (*one)[static_cast<size_t>(k)];
        }
      });
    });
  });
}

}  // namespace advmoe
