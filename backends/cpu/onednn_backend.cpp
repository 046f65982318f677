// oneDNN engine/stream, memory descriptors for our layouts, and the OnednnKernel base.
#include "backends/cpu/onednn_backend.h"

#include <cstdio>
#include <cstring>

#include "runtime/allocator.h"
#include "runtime/error.h"

namespace advmoe {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

bool cpu_has_bf16() {
  auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;  // oneDNN's ISA values are nested bit sets
}

OnednnBackend::OnednnBackend(Precision precision)
    : HostBackend("onednn"), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
  if (precision != Precision::BF16) return;
  if (cpu_has_bf16()) {
    compute_type_ = dt::bf16;
    return;
  }
  // Said once per process: every Plan builds its own backend in some tools.
  static bool said = false;
  if (!said)
    std::fprintf(stderr,
                 "advmoe: --precision bf16: this CPU has no AVX-512 BF16 instructions, so "
                 "convolutions and linear layers run in fp32\n");
  said = true;
}

dnnl::memory::desc nhwc_desc(const Shape& s) {
  return dnnl::memory::desc({s[0], s[3], s[1], s[2]}, dt::f32, tag::nhwc);
}
dnnl::memory::desc rows_desc(const Shape& s) {
  return dnnl::memory::desc({s[0], s[1]}, dt::f32, tag::nc);
}
dnnl::memory::desc flat_desc(int64_t numel) {
  return dnnl::memory::desc({numel}, dt::f32, tag::a);
}
dnnl::memory::desc ohwi_desc(const Shape& s) {
  return dnnl::memory::desc({s[0], s[3], s[1], s[2]}, dt::f32, tag::ohwi);
}
dnnl::memory::desc activation_desc(const Shape& s) {
  ADVMOE_CHECK(s.rank() == 4 || s.rank() == 2,
               "expected an [N, H, W, C] or [N, C] tensor, got " << s);
  return s.rank() == 4 ? nhwc_desc(s) : rows_desc(s);
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

OnednnKernel::OnednnKernel(const KernelArgs& args)
    : backend_(dynamic_cast<OnednnBackend&>(args.backend)) {
  for (const auto* list : {&args.inputs, &args.outputs})
    for (const Tensor& t : *list)
      ADVMOE_CHECK(t.dtype() != DType::F64, "the onednn backend runs f32 only; got "
                                                << t.describe()
                                                << " (use the reference backend "
                                                   "for f64)");
}

dnnl::memory OnednnKernel::wrap(const Tensor& t, const dnnl::memory::desc& md) const {
  ADVMOE_CHECK(md.get_size() == t.bytes(), "internal: oneDNN descriptor of " << md.get_size()
                                                                             << " bytes for tensor "
                                                                             << t.describe());
  return dnnl::memory(md, backend_.engine(), t.raw());
}

dnnl::memory OnednnKernel::owned(const dnnl::memory::desc& md) {
  owned_bytes_ += md.get_size();
  return dnnl::memory(md, backend_.engine());
}

dnnl::memory OnednnKernel::temporary(const dnnl::memory::desc& md) {
  dnnl::memory m(md, backend_.engine(), DNNL_MEMORY_NONE);
  temporaries_.push_back({m, temporary_bytes_});
  temporary_bytes_ += (md.get_size() + 63) / 64 * 64;  // keeps every offset 64-byte aligned
  return m;
}

dnnl::memory OnednnKernel::input_as(const Tensor& t, const dnnl::memory::desc& user,
                                    const dnnl::memory::desc& wanted) {
  dnnl::memory mine = wrap(t, user);
  if (wanted == user) return mine;
  dnnl::memory converted = temporary(wanted);
  add_reorder(mine, converted);
  return converted;
}

void OnednnKernel::add_primitive(const dnnl::primitive& p,
                                 std::unordered_map<int, dnnl::memory> args,
                                 const dnnl::memory::desc& scratchpad_md) {
  steps_.push_back({p, std::move(args), {}, scratchpad_md, nullptr});
  refresh_c_args(steps_.back());
}

void OnednnKernel::refresh_c_args(Step& step) {
  step.c_args.clear();
  for (const auto& [arg, mem] : step.args) step.c_args.push_back({arg, mem.get()});
}

void OnednnKernel::add_reorder(const dnnl::memory& from, const dnnl::memory& to) {
  dnnl::reorder::primitive_desc pd(from, to, user_scratchpad());
  add_primitive(dnnl::reorder(pd), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}},
                pd.scratchpad_desc());
}

void OnednnKernel::add_host_step(std::function<void()> step) {
  steps_.push_back({dnnl::primitive(), {}, {}, dnnl::memory::desc(), std::move(step)});
}

// The kernel's scratchpad: its temporaries one after another, then room for the largest
// primitive scratchpad (the steps run one at a time).
size_t OnednnKernel::scratchpad_bytes() const {
  size_t bytes = 0;
  for (const Step& s : steps_) bytes = std::max(bytes, s.scratchpad_md.get_size());
  return temporary_bytes_ + bytes;
}

void OnednnKernel::set_scratchpad(void* scratchpad) {
  auto* base = static_cast<char*>(scratchpad);
  // The steps hold these memory objects' C handles, which see the new address.
  for (auto& [m, offset] : temporaries_) m.set_data_handle(base + offset);
  for (Step& s : steps_)
    if (!s.host && s.scratchpad_md.get_size() > 0) {
      s.args[DNNL_ARG_SCRATCHPAD] =
          dnnl::memory(s.scratchpad_md, backend_.engine(), base + temporary_bytes_);
      refresh_c_args(s);
    }
}

void OnednnKernel::run() {
  // The C API with argument arrays built at compile time: the C++ wrapper would rebuild them
  // (allocating) on every call.
  for (Step& s : steps_) {
    if (s.host) {
      s.host();
      continue;
    }
    dnnl_status_t status =
        dnnl_primitive_execute(s.primitive.get(), backend_.stream().get(),
                               static_cast<int>(s.c_args.size()), s.c_args.data());
    ADVMOE_CHECK(status == dnnl_success,
                 "oneDNN primitive execution failed with status " << status);
  }
  backend_.stream().wait();
}

}  // namespace advmoe
