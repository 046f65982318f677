// Host memory copies of the CPU backends.
#include "runtime/backend.h"

#include "runtime/error.h"

namespace advmoe {

void HostBackend::copy(const Tensor& dst, const Tensor& src) {
  ADVMOE_CHECK(dst.device().kind == DeviceKind::CPU && src.device().kind == DeviceKind::CPU,
               "backend '" << name_ << "' copies host tensors only");
  dst.copy_from(src);
}

void HostBackend::sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                             float lr, float momentum, float weight_decay, bool nesterov) {
  float* p = param.data<float>();
  const float* g = grad.data<float>();
  float* buf = momentum_buffer.data<float>();
  const int64_t n = param.numel();
#pragma omp parallel for if (n > 4096)
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i] + weight_decay * p[i];
    buf[i] = momentum * buf[i] + d;
    p[i] -= lr * (nesterov ? d + momentum * buf[i] : buf[i]);
  }
}

}  // namespace advmoe
