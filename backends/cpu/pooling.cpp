// Pooling on oneDNN: max forward, average forward and backward. Max-pool backward and global
// average pooling use the shared OpenMP loops (backends/host/pooling_loops.h): argmax
// recomputation needs no oneDNN workspace, and the loop beats oneDNN's reduction here.
#include "backends/cpu/onednn_backend.h"
#include "backends/host/pooling_loops.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

using namespace dnnl;

struct PoolDescs {
  memory::desc src, dst;
  memory::dims strides, kernel, pad_l, pad_r;
};

PoolDescs pool_descs(const PoolGeometry& g) {
  PoolDescs d{
      nhwc_desc(Shape{g.n, g.h, g.w, g.c}),
      nhwc_desc(Shape{g.n, g.ho, g.wo, g.c}),
      {g.stride, g.stride},
      {g.k, g.k},
      {g.pad, g.pad},
      // Right padding that makes oneDNN's output size equal our floor-mode size.
      {(g.ho - 1) * g.stride + g.k - g.h - g.pad, (g.wo - 1) * g.stride + g.k - g.w - g.pad}};
  return d;
}

pooling_forward::primitive_desc pool_forward_pd(const PoolDescs& d, algorithm algo, prop_kind prop,
                                                const engine& e) {
  return pooling_forward::primitive_desc(
      pooling_forward::desc(prop, algo, d.src, d.dst, d.strides, d.kernel, d.pad_l, d.pad_r),
      user_scratchpad(), e);
}

class PoolForward : public OnednnKernel {
 public:
  PoolForward(const KernelArgs& a, algorithm algo) : OnednnKernel(a) {
    PoolDescs d =
        pool_descs(PoolGeometry::make(a.inputs[0].shape(), std::get<PoolAttrs>(a.node.attrs)));
    // forward_inference: max pooling then keeps no workspace (its backward recomputes argmax).
    auto pd = pool_forward_pd(d, algo, prop_kind::forward_inference, backend_.engine());
    add_primitive(
        pooling_forward(pd),
        {{DNNL_ARG_SRC, wrap(a.inputs[0], d.src)}, {DNNL_ARG_DST, wrap(a.outputs[0], d.dst)}},
        pd.scratchpad_desc());
  }
};

class AvgPoolBackward : public OnednnKernel {
 public:
  explicit AvgPoolBackward(const KernelArgs& a) : OnednnKernel(a) {
    PoolDescs d =
        pool_descs(PoolGeometry::make(a.outputs[0].shape(), std::get<PoolAttrs>(a.node.attrs)));
    auto algo = algorithm::pooling_avg_include_padding;
    auto hint = pool_forward_pd(d, algo, prop_kind::forward_training, backend_.engine());
    pooling_backward::primitive_desc pd(
        pooling_backward::desc(algo, d.src, d.dst, d.strides, d.kernel, d.pad_l, d.pad_r),
        user_scratchpad(), backend_.engine(), hint);
    add_primitive(pooling_backward(pd),
                  {{DNNL_ARG_DIFF_DST, wrap(a.inputs[0], d.dst)},
                   {DNNL_ARG_DIFF_SRC, wrap(a.outputs[0], d.src)}},
                  pd.scratchpad_desc());
  }
};

}  // namespace

void add_onednn_pooling(KernelTable& t) {
  put(t, Op::MaxPool,
      [](const KernelArgs& a) { return std::make_unique<PoolForward>(a, algorithm::pooling_max); });
  put(t, Op::AvgPool, [](const KernelArgs& a) {
    return std::make_unique<PoolForward>(a, algorithm::pooling_avg_include_padding);
  });
  put(t, Op::AvgPoolBackward,
      [](const KernelArgs& a) { return std::make_unique<AvgPoolBackward>(a); });
  // Global average pooling uses the shared OpenMP loop: oneDNN 2.6's reduction_mean took
  // 2.7 ms per training step of SmallCNN (batch 128) where the loop takes under 0.1 ms.
  put(t, Op::GlobalAvgPool, [](const KernelArgs& a) {
    return make_global_avg_pool_kernel(a, /*forward=*/true, /*parallel=*/true);
  });
  put(t, Op::MaxPoolBackward,
      [](const KernelArgs& a) { return make_max_pool_backward_kernel(a, /*parallel=*/true); });
  put(t, Op::GlobalAvgPoolBackward, [](const KernelArgs& a) {
    return make_global_avg_pool_kernel(a, /*forward=*/false, /*parallel=*/true);
  });
}

}  // namespace advmoe
