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

std::shared_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options) {
  if (name == "reference") return std::make_shared<HostBackend>("reference");
  if (name == "onednn" || name == "cpu") return std::make_shared<OnednnBackend>();
  if (name == "cuda") {
#ifdef ADVMOE_WITH_CUDA
    return make_cuda_backend(options);
#else
    (void)options;
    ADVMOE_FAIL("this advmoe was built without CUDA (configure with -DADVMOE_CUDA=ON)");
#endif
  }
  ADVMOE_FAIL("unknown backend '" << name << "' (expected reference, onednn/cpu or cuda)");
}

}  // namespace advmoe
