// The SGD update as a host loop (OpenMP on "onednn" above 4096 elements), in the element type of
// the parameter: the same float arithmetic, term for term, as PyTorch's SGD.
#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"

namespace advmoe {

namespace {

std::unique_ptr<Kernel> sgd_update_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = a.inputs[0].data<T>();
    const T* g = a.inputs[1].data<T>();
    T* buf = a.inputs[2].data<T>();
    const T* lr_input = a.inputs[3].data<T>();
    T* applied = a.outputs[0].data<T>();
    const int64_t n = a.inputs[0].numel();
    const SgdAttrs& s = std::get<SgdAttrs>(a.node.attrs);
    const T momentum = static_cast<T>(s.momentum), weight_decay = static_cast<T>(s.weight_decay);
    const bool nesterov = s.nesterov;
    return loop_kernel([=] {
      const T lr = lr_input[0];
#pragma omp parallel for if (parallel && n > 4096)
      for (int64_t i = 0; i < n; ++i) {
        T d = g[i] + weight_decay * p[i];
        buf[i] = momentum * buf[i] + d;
        p[i] -= lr * (nesterov ? d + momentum * buf[i] : buf[i]);
      }
      applied[0] = lr;
    });
  });
}

}  // namespace

void add_optimizer_loops(KernelTable& t, bool parallel) {
  put(t, Op::SgdUpdate, bind_parallel(sgd_update_kernel, parallel));
}

}  // namespace advmoe
