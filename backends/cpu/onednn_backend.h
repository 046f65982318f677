// The CPU backend on oneDNN: an engine and stream, host memory, and OnednnKernel, the base of
// every kernel that runs oneDNN primitives. All primitives are created at compile time in
// user-scratchpad mode so that the Plan owns (and shares) all scratch memory.
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/backends.h"
#include "backends/kernel_registry.h"
#include "runtime/backend.h"

namespace advmoe {

class OnednnBackend : public HostBackend {
 public:
  // BF16 on a CPU without AVX-512 BF16 instructions falls back to f32 and says so on stderr
  // (oneDNN would otherwise emulate bf16, slower than f32).
  explicit OnednnBackend(Precision precision = Precision::F32);

  const dnnl::engine& engine() const { return engine_; }
  dnnl::stream& stream() { return stream_; }
  // The data type convolutions and inner products read their inputs in (f32 or bf16).
  dnnl::memory::data_type compute_type() const { return compute_type_; }

 private:
  dnnl::memory::data_type compute_type_ = dnnl::memory::data_type::f32;
  dnnl::engine engine_;
  dnnl::stream stream_;
};

// True when oneDNN has native bf16 kernels on this CPU (AVX-512 BF16 or AMX).
bool cpu_has_bf16();

// Memory descriptors for our layouts (oneDNN dims are always N, C, H, W / O, I, kh, kw).
dnnl::memory::desc nhwc_desc(const Shape& nhwc);         // [N, H, W, C]
dnnl::memory::desc rows_desc(const Shape& nc);           // [N, C]
dnnl::memory::desc flat_desc(int64_t numel);             // any tensor seen as 1-D
dnnl::memory::desc ohwi_desc(const Shape& ohwi);         // conv weight [O, kh, kw, I]
dnnl::memory::desc activation_desc(const Shape& shape);  // rank 4 -> nhwc, rank 2 -> nc
dnnl::primitive_attr user_scratchpad();

class OnednnKernel : public Kernel {
 public:
  explicit OnednnKernel(const KernelArgs& args);
  void run() override;
  size_t scratchpad_bytes() const override;
  void set_scratchpad(void* scratchpad) override;
  size_t owned_bytes() const override { return owned_bytes_; }

 protected:
  // A memory object over a bound tensor's bytes (no copy).
  dnnl::memory wrap(const Tensor& t, const dnnl::memory::desc& md) const;
  // A memory object the kernel owns for its lifetime (reordered weights).
  dnnl::memory owned(const dnnl::memory::desc& md);
  // Memory for a value that lives only during run() (a reordered copy): placed in the Plan's
  // shared scratchpad, ahead of the primitives' own scratch space.
  dnnl::memory temporary(const dnnl::memory::desc& md);
  // Tensor `t` (laid out as `user`) as the primitive wants it (`wanted`: another layout or the
  // bf16 compute type): the tensor itself when they agree, else a temporary copy that a reorder,
  // appended here, refreshes on every run.
  dnnl::memory input_as(const Tensor& t, const dnnl::memory::desc& user,
                        const dnnl::memory::desc& wanted);
  // Appends a primitive to run, with its arguments and its primitive descriptor's scratchpad.
  void add_primitive(const dnnl::primitive& p, std::unordered_map<int, dnnl::memory> args,
                     const dnnl::memory::desc& scratchpad_md);
  // Appends a reorder from `from` to `to` when their layouts differ; returns the memory that
  // holds the data in `to`'s layout afterwards.
  void add_reorder(const dnnl::memory& from, const dnnl::memory& to);
  // Appends plain host work (e.g. the running-statistics update after batch norm).
  void add_host_step(std::function<void()> step);

  OnednnBackend& backend_;

 private:
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;  // keeps the memory objects alive
    std::vector<dnnl_exec_arg_t> c_args;         // the same, as the C API takes them
    dnnl::memory::desc scratchpad_md;
    std::function<void()> host;  // set for host steps
  };
  static void refresh_c_args(Step& step);
  std::vector<Step> steps_;
  size_t owned_bytes_ = 0;
  std::vector<std::pair<dnnl::memory, size_t>> temporaries_;  // memory, offset in the scratchpad
  size_t temporary_bytes_ = 0;
};

// Registration functions of the oneDNN kernel files.
void add_onednn_conv(KernelTable& table);
void add_onednn_batch_norm(KernelTable& table);
void add_onednn_eltwise(KernelTable& table);
void add_onednn_pooling(KernelTable& table);
void add_onednn_linear(KernelTable& table);
void add_onednn_expert_conv(KernelTable& table);

}  // namespace advmoe
