// The kernel registry: one table of factories per backend, filled at first use from each
// backend's entry file.
#include "backends/kernel_registry.h"

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

KernelTable& KernelRegistry::table(const std::string& backend) {
  for (auto& [name, table] : tables_)
    if (name == backend) return table;
  tables_.emplace_back(backend, KernelTable{});
  return tables_.back().second;
}

void KernelRegistry::add(const std::string& backend, Op op, KernelFactory factory) {
  KernelFactory& slot = table(backend).at(static_cast<size_t>(op));
  ADVMOE_CHECK(!slot, "internal: backend '" << backend << "' registers a second kernel for op "
                                            << op_def(op).name);
  ADVMOE_CHECK(factory, "internal: backend '" << backend << "' registers an empty kernel for op "
                                              << op_def(op).name);
  slot = std::move(factory);
}

void put(KernelTable& table, Op op, KernelFactory factory) {
  KernelFactory& slot = table.at(static_cast<size_t>(op));
  ADVMOE_CHECK(!slot, "internal: a second kernel for op " << op_def(op).name << " in one table");
  ADVMOE_CHECK(factory, "internal: an empty kernel for op " << op_def(op).name);
  slot = std::move(factory);
}

void register_table(KernelRegistry& registry, const std::string& backend,
                    const KernelTable& table) {
  for (size_t i = 0; i < table.size(); ++i)
    if (table[i]) registry.add(backend, static_cast<Op>(i), table[i]);
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
