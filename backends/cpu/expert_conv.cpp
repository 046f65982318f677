// expert_conv on oneDNN with real sparse execution: samples are grouped by expert (a counting
// sort of the route), each group is gathered into a staging buffer, convolved with its expert's
// weight slice only, and scattered back. Primitives exist for bucket batch sizes 1, 2, 4, 8, 16,
// 32, 48, ... N (created at compile time); a group of g samples runs on the smallest bucket >= g,
// the padding rows zeroed. The dense mode instead convolves every sample with all experts and
// selects: the reference code's behaviour, kept as a parity oracle. In mixed precision a reorder
// rounds the staged inputs to bf16 before each conv. A forward with a folded batch norm
// (compile/eval_fusion.h) adds its bias, and applies the ReLU, in the scatter (or select) copy:
// the one pass over y the op makes anyway.
#include <cstring>

#include "backends/cpu/conv_primitives.h"
#include "backends/cpu/onednn_backend.h"
#include "backends/expert_grouping.h"
#include "ops/geometry.h"

namespace advmoe {

namespace {

using namespace dnnl;

using Pass = ExpertPass;

void execute(const primitive& p, stream& s, const std::vector<dnnl_exec_arg_t>& args) {
  dnnl_status_t status =
      dnnl_primitive_execute(p.get(), s.get(), static_cast<int>(args.size()), args.data());
  ADVMOE_CHECK(status == dnnl_success,
               "oneDNN expert_conv execution failed with status " << status);
}

std::vector<dnnl_exec_arg_t> c_args(const std::unordered_map<int, memory>& args) {
  std::vector<dnnl_exec_arg_t> out;
  for (const auto& [k, m] : args) out.push_back({k, m.get()});
  return out;
}

// One conv primitive for `rows` samples over the staging buffers, plus the reorder that brings an
// expert's OHWI weight slice into (or, for backward_weights, out of) oneDNN's chosen layout.
struct ConvAtBatch {
  primitive conv;
  std::unordered_map<int, memory> args;
  std::vector<dnnl_exec_arg_t> run_args;
  memory::desc scratchpad_md;
  memory user_weights;  // its data handle is pointed at the expert slice before each run
  primitive reorder;    // empty when oneDNN takes OHWI as it is
  std::vector<dnnl_exec_arg_t> reorder_args;
  memory blocked;
  // Mixed precision: reorders of the staged f32 inputs into their bf16 copies, run before conv.
  std::vector<primitive> casts;
  std::vector<std::vector<dnnl_exec_arg_t>> cast_args;
  std::vector<memory> cast_memories;  // keeps the handles in cast_args alive
};

class ExpertConvKernel : public Kernel {
 public:
  ExpertConvKernel(const KernelArgs& a, Pass pass)
      : backend_(dynamic_cast<OnednnBackend&>(a.backend)),
        pass_(pass),
        attrs_(std::get<ExpertConvAttrs>(a.node.attrs)),
        io_(expert_conv_tensors(a, pass)),
        e_(ExpertConvGeometry::make(io_.x.shape(), io_.w.shape(), attrs_)),
        groups_(node_label(a.node), e_.n, attrs_.experts, e_.bucket_rows) {
    const Tensor &x = io_.x, &w = io_.w;
    x_ = x.data<float>();
    w_ = w.data<float>();
    y_ = io_.y.data<float>();
    bias_ = io_.bias.defined() ? io_.bias.data<float>() : nullptr;
    relu_ = attrs_.relu;
    route_ = io_.route.data<int32_t>();
    experts_ = attrs_.experts;
    node_name_ = node_label(a.node);
    Shape ws{e_.conv.o, e_.conv.kh, e_.conv.kw, e_.conv.c};
    staging_x_ = Tensor::zeros(x.shape(), DType::F32);
    staging_y_ = Tensor::zeros(Shape{e_.n, e_.conv.ho, e_.conv.wo, e_.conv.o}, DType::F32);
    if (backend_.compute_type() != memory::data_type::f32) {
      // bf16 copies of what the passes read (two bytes per value).
      staging_x_low_.resize(static_cast<size_t>(staging_x_.numel()));
      staging_y_low_.resize(static_cast<size_t>(staging_y_.numel()));
    }
    for (int64_t rows : e_.bucket_rows) batches_.push_back(make_batch(rows, ws));
    order_.resize(static_cast<size_t>(e_.n));
  }

  size_t scratchpad_bytes() const override {
    size_t bytes = 0;
    for (const auto& b : batches_) bytes = std::max(bytes, b.scratchpad_md.get_size());
    return bytes;
  }
  void set_scratchpad(void* scratchpad) override {
    for (auto& b : batches_) {
      if (b.scratchpad_md.get_size() == 0) continue;
      b.args[DNNL_ARG_SCRATCHPAD] = memory(b.scratchpad_md, backend_.engine(), scratchpad);
      b.run_args = c_args(b.args);
    }
  }
  size_t owned_bytes() const override {
    size_t bytes = staging_x_.bytes() + staging_y_.bytes() +
                   2 * (staging_x_low_.size() + staging_y_low_.size());
    for (const auto& b : batches_) bytes += b.reorder ? b.blocked.get_desc().get_size() : 0;
    return bytes;
  }

  void run() override {
    if (attrs_.dense)
      run_dense();
    else
      run_sparse();
  }

 private:
  ConvAtBatch make_batch(int64_t rows, const Shape& ws) {
    ConvGeometry g = e_.conv;
    g.n = rows;
    const engine& e = backend_.engine();
    memory::desc src = nhwc_desc(Shape{rows, g.h, g.w, g.c});
    memory::desc dst = nhwc_desc(Shape{rows, g.ho, g.wo, g.o});
    ConvAtBatch b;
    memory x_mem(src, e, staging_x_.raw()), y_mem(dst, e, staging_y_.raw());
    b.user_weights = memory(ohwi_desc(ws), e, w_);
    memory::desc weights_desc;
    const memory::data_type compute = backend_.compute_type();
    // What the conv reads: the f32 staging buffer itself, or its bf16 copy made by a cast.
    auto read_as = [&](const memory& staged, void* low, const memory::desc& wanted) {
      if (wanted == staged.get_desc()) return staged;
      memory converted(wanted, e, low);
      b.casts.push_back(reorder(reorder::primitive_desc(staged, converted)));
      b.cast_args.push_back({{DNNL_ARG_FROM, staged.get()}, {DNNL_ARG_TO, converted.get()}});
      b.cast_memories.insert(b.cast_memories.end(), {staged, converted});
      return converted;
    };
    void *x_low = staging_x_low_.data(), *y_low = staging_y_low_.data();
    if (pass_ == Pass::Forward) {
      auto pd = conv_forward_pd(g, /*bias=*/false, e, prop_kind::forward_inference, compute);
      weights_desc = pd.weights_desc();
      x_mem = read_as(x_mem, x_low, pd.src_desc());
      b.conv = convolution_forward(pd);
      b.scratchpad_md = pd.scratchpad_desc();
    } else if (pass_ == Pass::BackwardData) {
      auto pd = conv_backward_data_pd(g, e, compute);
      weights_desc = pd.weights_desc();
      y_mem = read_as(y_mem, y_low, pd.diff_dst_desc());
      b.conv = convolution_backward_data(pd);
      b.scratchpad_md = pd.scratchpad_desc();
    } else {
      auto pd = conv_backward_weights_pd(g, e, compute);
      weights_desc = pd.diff_weights_desc();
      x_mem = read_as(x_mem, x_low, pd.src_desc());
      y_mem = read_as(y_mem, y_low, pd.diff_dst_desc());
      b.conv = convolution_backward_weights(pd);
      b.scratchpad_md = pd.scratchpad_desc();
    }
    memory weights = b.user_weights;
    if (weights_desc != b.user_weights.get_desc()) {
      b.blocked = memory(weights_desc, e);
      weights = b.blocked;
      bool into_user = pass_ == Pass::BackwardWeights;
      memory from = into_user ? b.blocked : b.user_weights,
             to = into_user ? b.user_weights : b.blocked;
      b.reorder = reorder(reorder::primitive_desc(from, to));
      b.reorder_args = {{DNNL_ARG_FROM, from.get()}, {DNNL_ARG_TO, to.get()}};
    }
    if (pass_ == Pass::Forward)
      b.args = {{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, y_mem}};
    else if (pass_ == Pass::BackwardData)
      b.args = {
          {DNNL_ARG_DIFF_SRC, x_mem}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DIFF_DST, y_mem}};
    else
      b.args = {
          {DNNL_ARG_SRC, x_mem}, {DNNL_ARG_DIFF_WEIGHTS, weights}, {DNNL_ARG_DIFF_DST, y_mem}};
    b.run_args = c_args(b.args);
    return b;
  }

  // Runs batch b with the weight slice at `slice`: reorders in before forward/backward_data, out
  // after backward_weights.
  void run_batch(ConvAtBatch& b, float* slice) {
    b.user_weights.set_data_handle(slice);
    stream& s = backend_.stream();
    if (b.reorder && pass_ != Pass::BackwardWeights) execute(b.reorder, s, b.reorder_args);
    for (size_t i = 0; i < b.casts.size(); ++i) execute(b.casts[i], s, b.cast_args[i]);
    execute(b.conv, s, b.run_args);
    if (b.reorder && pass_ == Pass::BackwardWeights) execute(b.reorder, s, b.reorder_args);
    s.wait();
  }

  void run_sparse() {
    groups_.sort(route_, order_.data());
    float* sx = staging_x_.data<float>();
    float* sy = staging_y_.data<float>();
    const size_t xb = sizeof(float) * static_cast<size_t>(e_.x_row),
                 yb = sizeof(float) * static_cast<size_t>(e_.y_row);
    for (int e = 0; e < experts_; ++e) {
      int64_t first = groups_.first(e), g = groups_.size(e);
      float* slice = w_ + e * e_.w_slice;
      if (g == 0) {
        if (pass_ == Pass::BackwardWeights) std::fill(slice, slice + e_.w_slice, 0.0f);
        continue;
      }
      size_t bucket = groups_.bucket(g);
      int64_t rows = groups_.bucket_rows(bucket);
      const int64_t* members = order_.data() + first;
      // Gather what the conv reads; zero the padding rows (they then add nothing to dw).
#pragma omp parallel for
      for (int64_t r = 0; r < rows; ++r) {
        bool real = r < g;
        int64_t i = real ? members[r] : 0;
        if (pass_ != Pass::BackwardData) {
          if (real)
            std::memcpy(sx + r * e_.x_row, x_ + i * e_.x_row, xb);
          else
            std::memset(sx + r * e_.x_row, 0, xb);
        }
        if (pass_ != Pass::Forward) {
          if (real)
            std::memcpy(sy + r * e_.y_row, y_ + i * e_.y_row, yb);
          else
            std::memset(sy + r * e_.y_row, 0, yb);
        }
      }
      run_batch(batches_[bucket], slice);
#pragma omp parallel for
      for (int64_t r = 0; r < g; ++r) {
        int64_t i = members[r];
        if (pass_ == Pass::Forward) copy_output(y_ + i * e_.y_row, sy + r * e_.y_row, e_.y_row);
        if (pass_ == Pass::BackwardData) std::memcpy(x_ + i * e_.x_row, sx + r * e_.x_row, xb);
      }
    }
  }

  // y = conv, or max(conv + bias, 0) with a folded batch norm: `count` values, a whole number of
  // pixels (channels innermost, NHWC).
  void copy_output(float* y, const float* conv, int64_t count) const {
    if (!bias_ && !relu_) {
      std::memcpy(y, conv, sizeof(float) * static_cast<size_t>(count));
      return;
    }
    const int64_t c = e_.width;
    for (int64_t p = 0; p < count; p += c)
      for (int64_t k = 0; k < c; ++k) {
        float v = conv[p + k] + (bias_ ? bias_[k] : 0.0f);
        y[p + k] = relu_ && v < 0.0f ? 0.0f : v;
      }
  }

  // Every expert for every sample, then select (forward) or expand (backward) the route's slice.
  void run_dense() {
    check_routes(node_name_, route_, e_.n, experts_);
    float* sx = staging_x_.data<float>();
    float* sy = staging_y_.data<float>();
    const int64_t pixels = e_.conv.ho * e_.conv.wo, all = e_.width * experts_;
    if (pass_ != Pass::BackwardData)
      std::memcpy(sx, x_, sizeof(float) * static_cast<size_t>(e_.n * e_.x_row));
    if (pass_ != Pass::Forward) {
      std::fill(sy, sy + e_.n * pixels * all, 0.0f);
#pragma omp parallel for
      for (int64_t i = 0; i < e_.n; ++i)
        for (int64_t p = 0; p < pixels; ++p)
          std::memcpy(sy + (i * pixels + p) * all + route_[i] * e_.width,
                      y_ + (i * pixels + p) * e_.width,
                      sizeof(float) * static_cast<size_t>(e_.width));
    }
    run_batch(batches_[0], w_);
    if (pass_ == Pass::Forward) {
#pragma omp parallel for
      for (int64_t i = 0; i < e_.n; ++i)
        for (int64_t p = 0; p < pixels; ++p)
          copy_output(y_ + (i * pixels + p) * e_.width,
                      sy + (i * pixels + p) * all + route_[i] * e_.width, e_.width);
    }
    if (pass_ == Pass::BackwardData)
      std::memcpy(x_, sx, sizeof(float) * static_cast<size_t>(e_.n * e_.x_row));
  }

  OnednnBackend& backend_;
  Pass pass_;
  ExpertConvAttrs attrs_;
  ExpertConvTensors io_;
  ExpertConvGeometry
      e_;  // per-sample and per-expert sizes, one expert's conv, the bucket batch sizes
  ExpertGroups groups_;
  float *x_, *w_, *y_;  // x/dx, w/dw, y/dy depending on the pass
  const float* bias_;   // forward with a folded batch norm, else null
  bool relu_;
  const int32_t* route_;
  int experts_;
  std::string node_name_;
  Tensor staging_x_, staging_y_;
  std::vector<uint16_t> staging_x_low_, staging_y_low_;  // bf16 bits, mixed precision only
  std::vector<ConvAtBatch> batches_;
  std::vector<int64_t> order_;
};

}  // namespace

void add_onednn_expert_conv(KernelTable& t) {
  put(t, Op::ExpertConv,
      [](const KernelArgs& a) { return std::make_unique<ExpertConvKernel>(a, Pass::Forward); });
  put(t, Op::ExpertConvBackwardData, [](const KernelArgs& a) {
    return std::make_unique<ExpertConvKernel>(a, Pass::BackwardData);
  });
  put(t, Op::ExpertConvBackwardWeights, [](const KernelArgs& a) {
    return std::make_unique<ExpertConvKernel>(a, Pass::BackwardWeights);
  });
}

}  // namespace advmoe
