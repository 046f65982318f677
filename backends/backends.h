// Backend construction by name: "reference", "onednn" (the default CPU backend) or "cuda".
#pragma once

#include <memory>
#include <string>

#include "runtime/backend.h"

namespace advmoe {

// How cuDNN picks a convolution algorithm when a Plan is compiled: its heuristics (instant), or a
// timed run of every algorithm (seconds per Plan, the fastest kernels).
enum class ConvSearch { Heuristic, Timed };

// The arithmetic of convolutions and GEMMs (linear layers). BF16: their inputs are rounded to
// bfloat16 and multiplied with f32 accumulation into f32 outputs (oneDNN's avx512_core_bf16
// kernels); everything else (weights as stored, batch-norm statistics, losses, the optimizer) stays
// f32. Attacks use the gradient's sign or direction, which bf16 keeps.
enum class Precision { F32, BF16 };

// Settings of the backends (the reference backend has none; precision is the onednn backend's,
// the rest the CUDA backend's).
struct BackendOptions {
  Precision precision = Precision::F32;
  bool tf32 = false;           // TF32 tensor-core math in convolutions and GEMMs (off: FP32 FMA)
  bool deterministic = false;  // only cuDNN algorithms that give bit-identical results run to run
  ConvSearch conv_search = ConvSearch::Heuristic;
  // cuda: which GPU (modulo the GPUs present); data-parallel ranks pass their local rank.
  int device_index = 0;
};

// Throws naming the reason for an unknown name, a build without CUDA, or a machine without a GPU.
std::shared_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options = {});

// "heuristic" | "timed" (throws naming the accepted values).
ConvSearch parse_conv_search(const std::string& text);
// "fp32" | "bf16" (throws naming the accepted values).
Precision parse_precision(const std::string& text);
const char* precision_name(Precision p);

// Empty when the "cuda" backend can run here; otherwise why not (built without CUDA, no driver
// or no device).
std::string cuda_unavailable_reason();

}  // namespace advmoe
