// Host memory copies of the CPU backends.
#include "runtime/backend.h"

#include "runtime/error.h"

namespace advmoe {

void HostBackend::copy(const Tensor& dst, const Tensor& src) {
  ADVMOE_CHECK(dst.device().kind == DeviceKind::CPU && src.device().kind == DeviceKind::CPU,
               "backend '" << name_ << "' copies host tensors only");
  dst.copy_from(src);
}

}  // namespace advmoe
