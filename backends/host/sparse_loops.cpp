// topk_mask as a host loop shared by both CPU backends (semantics: ops/sparse.h, the selection
// itself: ops/sparse_select.h).
#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"
#include "graph/attrs.h"
#include "ops/sparse_select.h"

namespace advmoe {

namespace {

std::unique_ptr<Kernel> topk_mask_kernel(const KernelArgs& a) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const TopkMaskAttrs attrs = std::get<TopkMaskAttrs>(a.node.attrs);
    const int64_t filters = a.inputs[0].shape()[0], row = a.inputs[0].numel() / filters;
    const T* scores = a.inputs[0].data<T>();
    T* mask = a.outputs[0].data<T>();
    T* filter_mask = a.outputs[1].data<T>();
    return loop_kernel([=] {
      topk_mask_host(scores, filters, row, attrs.keep, attrs.structured, mask, filter_mask);
    });
  });
}

}  // namespace

void add_sparse_loops(KernelTable& t, bool /*parallel*/) {
  put(t, Op::TopkMask, topk_mask_kernel);
}

}  // namespace advmoe
