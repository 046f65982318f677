// make_backend: the one place that knows every backend class.
#include "backends/backends.h"

#include "backends/cpu/onednn_backend.h"
#include "runtime/error.h"

namespace advmoe {

#ifdef ADVMOE_WITH_CUDA
std::shared_ptr<Backend> make_cuda_backend(const BackendOptions& options);  // cuda_backend.cu
bool cuda_device_available();  // backends/cuda/cuda_backend.cu
#endif

std::string cuda_unavailable_reason() {
#ifdef ADVMOE_WITH_CUDA
  return cuda_device_available() ? "" : "no CUDA device (or driver) on this machine";
#else
  return "this advmoe was built without CUDA (configure with -DADVMOE_CUDA=ON)";
#endif
}

ConvSearch parse_conv_search(const std::string& text) {
  if (text == "heuristic") return ConvSearch::Heuristic;
  if (text == "timed") return ConvSearch::Timed;
  throw Error("convolution algorithm search must be heuristic or timed, got '" + text + "'");
}

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::F32;
  if (text == "bf16") return Precision::BF16;
  throw Error("precision must be fp32 or bf16, got '" + text + "'");
}

const char* precision_name(Precision p) {
  return p == Precision::BF16 ? "bf16" : "fp32";
}

std::shared_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options) {
  if (name == "reference") {
    // The reference backend is the f64-capable oracle the others are checked against.
    ADVMOE_CHECK(options.precision == Precision::F32,
                 "precision bf16 runs on the cpu (onednn) backend; the reference backend computes "
                 "in f32/f64 only");
    return std::make_shared<HostBackend>("reference");
  }
  if (name == "onednn" || name == "cpu") return std::make_shared<OnednnBackend>(options.precision);
  if (name == "cuda") {
#ifdef ADVMOE_WITH_CUDA
    ADVMOE_CHECK(options.precision == Precision::F32,
                 "precision bf16 is not implemented on the cuda backend yet (use --tf32 on for "
                 "tensor-core convolutions, or --device cpu --precision bf16)");
    return make_cuda_backend(options);
#else
    (void)options;
    ADVMOE_FAIL("this advmoe was built without CUDA (configure with -DADVMOE_CUDA=ON)");
#endif
  }
  ADVMOE_FAIL("unknown backend '" << name << "' (expected reference, onednn/cpu or cuda)");
}

}  // namespace advmoe
