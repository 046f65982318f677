// The kernel registry: one table of factories per backend, filled at first use.
#include "ops/kernel.h"

#include "ops/op_registry.h"
#include "runtime/error.h"

namespace advmoe {

KernelRegistry::KernelRegistry() {
  register_reference_kernels(*this);
  register_onednn_kernels(*this);
#ifdef ADVMOE_WITH_CUDA
  register_cuda_kernels(*this);
#endif
}

KernelRegistry& KernelRegistry::instance() {
  static KernelRegistry registry;
  return registry;
}

void KernelRegistry::add(const std::string& backend, Op op, KernelFactory factory) {
  for (auto& [name, table] : tables_)
    if (name == backend) {
      table.at(static_cast<size_t>(op)) = std::move(factory);
      return;
    }
  tables_.emplace_back(backend, std::vector<KernelFactory>(static_cast<size_t>(Op::kCount)));
  tables_.back().second.at(static_cast<size_t>(op)) = std::move(factory);
}

bool KernelRegistry::has(const std::string& backend, Op op) const {
  for (const auto& [name, table] : tables_)
    if (name == backend) return static_cast<bool>(table.at(static_cast<size_t>(op)));
  return false;
}

const KernelFactory& KernelRegistry::find(const std::string& backend, Op op) const {
  for (const auto& [name, table] : tables_)
    if (name == backend) {
      const KernelFactory& f = table.at(static_cast<size_t>(op));
      ADVMOE_CHECK(f, "backend '" << backend << "' has no kernel for op " << op_def(op).name);
      return f;
    }
  ADVMOE_FAIL("no kernels registered for backend '" << backend << "'");
}

}  // namespace advmoe
