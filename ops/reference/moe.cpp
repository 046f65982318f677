// MoE kernels as plain loops. expert_conv here is its definition: each sample convolved with its
// own expert's weight slice (so `dense` changes nothing). top1 and channel_gate loops are shared
// with the oneDNN backend (OpenMP there).
#include <cmath>
#include <cstring>
#include <memory>

#include "ops/op_registry.h"
#include "ops/reference/conv_loops.h"
#include "ops/reference/dispatch.h"
#include "ops/reference/reference_kernels.h"

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

void register_reference_moe(KernelRegistry& r) {
  r.add("reference", Op::ExpertConv, [](const KernelArgs& a) {
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
  r.add("reference", Op::ExpertConvBackwardData, [](const KernelArgs& a) {
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
  r.add("reference", Op::ExpertConvBackwardWeights, [](const KernelArgs& a) {
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

namespace {

// Softmax of each row into p (scratch [N, E]) and the routed fractions f [E].
template <typename T>
void balance_terms(const T* z, const int32_t* route, int64_t n, int64_t e, std::vector<double>& p,
                   std::vector<double>& f) {
  std::fill(f.begin(), f.end(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double m = z[i * e];
    for (int64_t k = 1; k < e; ++k) m = std::max(m, static_cast<double>(z[i * e + k]));
    double s = 0;
    for (int64_t k = 0; k < e; ++k)
      s += (p[static_cast<size_t>(i * e + k)] = std::exp(z[i * e + k] - m));
    for (int64_t k = 0; k < e; ++k) p[static_cast<size_t>(i * e + k)] /= s;
    f[static_cast<size_t>(route[i])] += 1.0 / static_cast<double>(n);
  }
}

}  // namespace

void register_moe_loops(KernelRegistry& r, const char* backend, bool parallel) {
  r.add(backend, Op::BalanceLoss, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.inputs[0].shape()[0], e = a.inputs[0].shape()[1];
      const T* z = a.inputs[0].data<T>();
      const int32_t* route = a.inputs[1].data<int32_t>();
      T* loss = a.outputs[0].data<T>();
      auto p = std::make_shared<std::vector<double>>(static_cast<size_t>(n * e));
      auto f = std::make_shared<std::vector<double>>(static_cast<size_t>(e));
      return loop_kernel([=] {
        balance_terms(z, route, n, e, *p, *f);
        double acc = 0;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t k = 0; k < e; ++k)
            acc += (*f)[static_cast<size_t>(k)] * (*p)[static_cast<size_t>(i * e + k)];
        loss[0] = static_cast<T>(static_cast<double>(e) * acc / static_cast<double>(n));
      });
    });
  });
  r.add(backend, Op::BalanceLossBackward, [](const KernelArgs& a) {
    return by_float_type(a.inputs[1].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.inputs[1].shape()[0], e = a.inputs[1].shape()[1];
      const T *g = a.inputs[0].data<T>(), *z = a.inputs[1].data<T>();
      const int32_t* route = a.inputs[2].data<int32_t>();
      T* dz = a.outputs[0].data<T>();
      auto p = std::make_shared<std::vector<double>>(static_cast<size_t>(n * e));
      auto f = std::make_shared<std::vector<double>>(static_cast<size_t>(e));
      return loop_kernel([=] {
        balance_terms(z, route, n, e, *p, *f);
        // dL/dz_nj = E/N * p_nj * (f_j - sum_k f_k p_nk)
        double scale = g[0] * static_cast<double>(e) / static_cast<double>(n);
        for (int64_t i = 0; i < n; ++i) {
          double fp = 0;
          for (int64_t k = 0; k < e; ++k)
            fp += (*f)[static_cast<size_t>(k)] * (*p)[static_cast<size_t>(i * e + k)];
          for (int64_t j = 0; j < e; ++j)
            dz[i * e + j] = static_cast<T>(scale * (*p)[static_cast<size_t>(i * e + j)] *
                                           ((*f)[static_cast<size_t>(j)] - fp));
        }
      });
    });
  });
  r.add(backend, Op::Top1, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.inputs[0].shape()[0], e = a.inputs[0].shape()[1];
      const T* logits = a.inputs[0].data<T>();
      int32_t* route = a.outputs[0].data<int32_t>();
      T* gate = a.outputs[1].data<T>();
      return loop_kernel([=] {
        for (int64_t i = 0; i < n; ++i) {
          int32_t best = 0;  // strict '>' keeps the lowest index among ties
          for (int64_t k = 1; k < e; ++k)
            if (logits[i * e + k] > logits[i * e + best]) best = static_cast<int32_t>(k);
          route[i] = best;
          gate[i] = T(1);
        }
      });
    });
  });
  r.add(backend, Op::Top1Backward, [](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.outputs[0].shape()[0], e = a.outputs[0].shape()[1];
      const T* dgate = a.inputs[0].data<T>();
      const int32_t* route = a.inputs[1].data<int32_t>();
      T* dlogits = a.outputs[0].data<T>();
      return loop_kernel([=] {
        std::fill(dlogits, dlogits + n * e, T(0));
        for (int64_t i = 0; i < n; ++i) dlogits[i * e + route[i]] = dgate[i];
      });
    });
  });
  r.add(backend, Op::ChannelGate, [parallel](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.inputs[0].shape()[0], row = a.inputs[0].numel() / n;
      const T *y = a.inputs[0].data<T>(), *gate = a.inputs[1].data<T>();
      T* z = a.outputs[0].data<T>();
      return loop_kernel([=] {
#pragma omp parallel for if (parallel)
        for (int64_t i = 0; i < n; ++i)
          for (int64_t k = 0; k < row; ++k) z[i * row + k] = gate[i] * y[i * row + k];
      });
    });
  });
  r.add(backend, Op::ChannelGateBackward, [parallel](const KernelArgs& a) {
    return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      int64_t n = a.inputs[0].shape()[0], row = a.inputs[0].numel() / n;
      const T *dz = a.inputs[0].data<T>(), *y = a.inputs[1].data<T>();
      T* dgate = a.outputs[0].data<T>();
      return loop_kernel([=] {
#pragma omp parallel for if (parallel)
        for (int64_t i = 0; i < n; ++i) {
          double acc = 0;
          for (int64_t k = 0; k < row; ++k)
            acc += static_cast<double>(dz[i * row + k]) * y[i * row + k];
          dgate[i] = static_cast<T>(acc);
        }
      });
    });
  });
}

}  // namespace advmoe
