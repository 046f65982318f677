// Helpers for kernel factories: pick the element type from a tensor's dtype and wrap a loop body.
#pragma once

#include <memory>
#include <utility>

#include "backends/kernel_registry.h"
#include "runtime/error.h"

namespace advmoe {

// Calls make(T{}) with T = float or double according to `dtype`.
template <typename Make>
std::unique_ptr<Kernel> by_float_type(DType dtype, Make make) {
  if (dtype == DType::F32) return make(float{});
  if (dtype == DType::F64) return make(double{});
  ADVMOE_FAIL("expected an f32 or f64 tensor, got " << dtype_name(dtype));
}

template <typename Body>
std::unique_ptr<Kernel> loop_kernel(Body body) {
  return std::make_unique<LoopKernel>(std::move(body));
}

// A kernel factory that also takes whether its loops run OpenMP-parallel, bound to one choice.
using ParallelKernelMaker = std::unique_ptr<Kernel> (*)(const KernelArgs&, bool parallel);
inline KernelFactory bind_parallel(ParallelKernelMaker make, bool parallel) {
  return [make, parallel](const KernelArgs& a) { return make(a, parallel); };
}

}  // namespace advmoe
