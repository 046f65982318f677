// concat_channels, channel_slice and channel_affine as row-wise loops, shared by both CPU backends
// (serial for "reference", OpenMP for "onednn"): they are pure data movement, with nothing for
// oneDNN to add.
#include <cstring>

#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"

namespace advmoe {

namespace {

std::unique_ptr<Kernel> channel_affine_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.outputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const AffineAttrs& attrs = std::get<AffineAttrs>(a.node.attrs);
    std::vector<T> scale(attrs.scale.begin(), attrs.scale.end());
    std::vector<T> shift(attrs.shift.begin(), attrs.shift.end());
    int64_t c = static_cast<int64_t>(scale.size()), rows = a.inputs[0].numel() / c;
    const T* x = a.inputs[0].data<T>();
    T* y = a.outputs[0].data<T>();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t row = 0; row < rows; ++row)
        for (int64_t k = 0; k < c; ++k)
          y[row * c + k] =
              x[row * c + k] * scale[static_cast<size_t>(k)] + shift[static_cast<size_t>(k)];
    });
  });
}

std::unique_ptr<Kernel> concat_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.outputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t total = a.outputs[0].shape()[-1], rows = a.outputs[0].numel() / total;
    std::vector<const T*> parts;
    std::vector<int64_t> widths;
    for (const Tensor& t : a.inputs) {
      parts.push_back(t.data<T>());
      widths.push_back(t.shape()[-1]);
    }
    T* out = a.outputs[0].data<T>();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t row = 0; row < rows; ++row) {
        T* dst = out + row * total;
        for (size_t i = 0; i < parts.size(); ++i) {
          std::memcpy(dst, parts[i] + row * widths[i], sizeof(T) * static_cast<size_t>(widths[i]));
          dst += widths[i];
        }
      }
    });
  });
}

std::unique_ptr<Kernel> channel_slice_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.outputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const SliceAttrs s = std::get<SliceAttrs>(a.node.attrs);
    int64_t width = a.inputs[0].shape()[-1], rows = a.inputs[0].numel() / width;
    const T* in = a.inputs[0].data<T>();
    T* out = a.outputs[0].data<T>();
    return loop_kernel([=] {
#pragma omp parallel for if (parallel)
      for (int64_t row = 0; row < rows; ++row)
        std::memcpy(out + row * s.count, in + row * width + s.offset,
                    sizeof(T) * static_cast<size_t>(s.count));
    });
  });
}

}  // namespace

void add_concat_loops(KernelTable& t, bool parallel) {
  put(t, Op::ChannelAffine, bind_parallel(channel_affine_kernel, parallel));
  put(t, Op::Concat, bind_parallel(concat_kernel, parallel));
  put(t, Op::ChannelSlice, bind_parallel(channel_slice_kernel, parallel));
}

}  // namespace advmoe
