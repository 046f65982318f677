// The SGD optimizer: a list of (parameter, gradient, momentum) slots updated by the backend that
// owns their memory (an OpenMP loop on the host, a CUDA kernel on the GPU).
#include "training/sgd.h"

#include "graph/autodiff.h"

namespace advmoe {

Sgd::Sgd(Variables& variables, std::vector<std::string> params, SgdConfig config)
    : params_(std::move(params)), config_(config) {
  for (const std::string& name : params_) {
    const Tensor& p = variables.get(name);
    Slot slot{p, variables.get(grad_name(name)),
              variables.ensure("momentum/" + name, p.shape(), p.dtype()), &variables.backend()};
    ADVMOE_CHECK(slot.grad.shape() == p.shape(), "gradient of '"
                                                     << name << "' is " << slot.grad.describe()
                                                     << ", parameter is " << p.describe());
    slots_.push_back(slot);
  }
}

void Sgd::step(double lr) {
  for (Slot& s : slots_)
    s.param_backend->sgd_update(s.param, s.grad, s.momentum, static_cast<float>(lr),
                                static_cast<float>(config_.momentum),
                                static_cast<float>(config_.weight_decay), config_.nesterov);
}

}  // namespace advmoe
