// MoE kernels as plain loops. expert_conv here is its definition: each sample convolved with its
// own expert's weight slice (so `dense` changes nothing). top1 and channel_gate loops are shared
// with the oneDNN backend (OpenMP there).
#include <cmath>
#include <cstring>
#include <memory>

#include "backends/host/dispatch.h"
#include "backends/reference/conv_loops.h"
#include "backends/reference/reference_kernels.h"
#include "ops/op_registry.h"

namespace advmoe {

namespace {

// A route outside [0, experts) is a bug upstream; say which node and sample.
// `node` is "<op> '<name>'", copied at compile time (kernels outlive graph edits).
void check_route(const std::string& node, const int32_t* route, int64_t n, int experts) {
  for (int64_t i = 0; i < n; ++i)
    ADVMOE_CHECK(route[i] >= 0 && route[i] < experts, node << ": sample " << i
                                                           << " is routed to expert " << route[i]
                                                           << " of " << experts);
}

// Per-sample geometry and the sizes of one sample's slices.
struct ExpertProblem {
  ConvGeometry one;  // batch 1, one expert's output width
  int64_t x_row, y_row, w_slice;
  int experts;
};

ExpertProblem problem(const Shape& x, const Shape& w, const ExpertConvAttrs& a) {
  Shape slice{w[0] / a.experts, w[1], w[2], w[3]};
  ExpertProblem p{
      ConvGeometry::make(Shape{1, x[1], x[2], x[3]}, slice, ConvAttrs{a.stride, a.padding, {}}), 0,
      0, 0, a.experts};
  p.x_row = x[1] * x[2] * x[3];
  p.y_row = p.one.ho * p.one.wo * p.one.o;
  p.w_slice = slice.numel();
  return p;
}

}  // namespace

void add_reference_moe(KernelTable& t) {
  put(t, Op::ExpertConv, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto& attrs = std::get<ExpertConvAttrs>(a.node.attrs);
      ExpertProblem p = problem(a.inputs[0].shape(), a.inputs[1].shape(), attrs);
      int64_t n = a.inputs[0].shape()[0];
      const T *x = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
      const int32_t* route = a.inputs[2].data<int32_t>();
      T* y = a.outputs[0].data<T>();
      std::string node = std::string(op_def(a.node.op).name) + " '" + a.node.name + "'";
      return loop_kernel([=] {
        check_route(node, route, n, p.experts);
        for (int64_t i = 0; i < n; ++i)
          conv_forward(p.one, x + i * p.x_row, w + route[i] * p.w_slice,
                       static_cast<const T*>(nullptr), y + i * p.y_row);
      });
    });
  });
  put(t, Op::ExpertConvBackwardData, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto& attrs = std::get<ExpertConvAttrs>(a.node.attrs);
      ExpertProblem p = problem(a.outputs[0].shape(), a.inputs[1].shape(), attrs);
      int64_t n = a.outputs[0].shape()[0];
      const T *dy = a.inputs[0].data<T>(), *w = a.inputs[1].data<T>();
      const int32_t* route = a.inputs[2].data<int32_t>();
      T* dx = a.outputs[0].data<T>();
      std::string node = std::string(op_def(a.node.op).name) + " '" + a.node.name + "'";
      auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(p.x_row));
      return loop_kernel([=] {
        check_route(node, route, n, p.experts);
        for (int64_t i = 0; i < n; ++i)
          conv_backward_data(p.one, dy + i * p.y_row, w + route[i] * p.w_slice, dx + i * p.x_row,
                             *acc);
      });
    });
  });
  put(t, Op::ExpertConvBackwardWeights, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto& attrs = std::get<ExpertConvAttrs>(a.node.attrs);
      ExpertProblem p = problem(a.inputs[1].shape(), a.outputs[0].shape(), attrs);
      int64_t n = a.inputs[1].shape()[0], total = a.outputs[0].numel();
      const T *dy = a.inputs[0].data<T>(), *x = a.inputs[1].data<T>();
      const int32_t* route = a.inputs[2].data<int32_t>();
      T* dw = a.outputs[0].data<T>();
      std::string node = std::string(op_def(a.node.op).name) + " '" + a.node.name + "'";
      auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(p.w_slice));
      auto one = std::make_shared<std::vector<T>>(static_cast<size_t>(p.w_slice));
      return loop_kernel([=] {
        check_route(node, route, n, p.experts);
        std::fill(dw, dw + total, T(0));  // experts without samples get exactly zero
        for (int64_t i = 0; i < n; ++i) {
          conv_backward_weights(p.one, dy + i * p.y_row, x + i * p.x_row, one->data(), *acc);
          T* slice = dw + route[i] * p.w_slice;
          for (int64_t k = 0; k < p.w_slice; ++k) slice[k] += (*one)[static_cast<size_t>(k)];
        }
      });
    });
  });
}

}  // namespace advmoe
