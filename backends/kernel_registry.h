// The kernel registry: which factory builds the kernel of each (backend, op). Each backend fills
// its table in one entry file (backends/reference/kernels.cpp, backends/cpu/kernels.cpp,
// backends/cuda/kernels.cu); registering an (op, backend) pair twice is an error, so which kernel
// runs never depends on the order of registration.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "graph/kernel.h"

namespace advmoe {

// One factory per op; empty where the backend has no kernel.
using KernelTable = std::array<KernelFactory, static_cast<size_t>(Op::kCount)>;

class KernelRegistry {
 public:
  static KernelRegistry& instance();
  // Throws when `backend` already has a kernel for `op`.
  void add(const std::string& backend, Op op, KernelFactory factory);
  // Throws naming the backend and op when no kernel exists.
  const KernelFactory& find(const std::string& backend, Op op) const;
  bool has(const std::string& backend, Op op) const;

 private:
  KernelRegistry();
  KernelTable& table(const std::string& backend);
  std::vector<std::pair<std::string, KernelTable>> tables_;
};

// Sets table[op]; throws when that row is already set (each op is listed once per backend).
void put(KernelTable& table, Op op, KernelFactory factory);
// Adds every non-empty row of `table` as `backend`'s kernel.
void register_table(KernelRegistry& registry, const std::string& backend, const KernelTable& table);

// Each backend's entry file.
void register_reference_kernels(KernelRegistry& registry);
void register_onednn_kernels(KernelRegistry& registry);
void register_cuda_kernels(KernelRegistry& registry);

}  // namespace advmoe
