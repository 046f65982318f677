// The SGD update as an OpenMP loop over each parameter (host tensors).
#include "training/sgd.h"

#include "graph/autodiff.h"

namespace advmoe {

Sgd::Sgd(Variables& variables, std::vector<std::string> params, SgdConfig config)
    : params_(std::move(params)), config_(config) {
  for (const std::string& name : params_) {
    const Tensor& p = variables.get(name);
    Slot slot{p, variables.get(grad_name(name)),
              variables.ensure("momentum/" + name, p.shape(), p.dtype())};
    ADVMOE_CHECK(slot.grad.shape() == p.shape(), "gradient of '"
                                                     << name << "' is " << slot.grad.describe()
                                                     << ", parameter is " << p.describe());
    slots_.push_back(slot);
  }
}

void Sgd::step(double lr) {
  const float m = static_cast<float>(config_.momentum),
              wd = static_cast<float>(config_.weight_decay);
  const float rate = static_cast<float>(lr);
  const bool nesterov = config_.nesterov;
  for (Slot& s : slots_) {
    float* p = s.param.data<float>();
    const float* g = s.grad.data<float>();
    float* buf = s.momentum.data<float>();
    int64_t n = s.param.numel();
#pragma omp parallel for if (n > 4096)
    for (int64_t i = 0; i < n; ++i) {
      float d = g[i] + wd * p[i];
      buf[i] = m * buf[i] + d;
      p[i] -= rate * (nesterov ? d + m * buf[i] : buf[i]);
    }
  }
}

}  // namespace advmoe
