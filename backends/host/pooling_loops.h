// Pooling loops with no oneDNN counterpart we use, shared by the reference backend (serial) and
// the oneDNN backend (OpenMP): max-pool backward by argmax recomputation, and global average
// pooling forward/backward.
#pragma once

#include <memory>

#include "backends/kernel_registry.h"

namespace advmoe {

std::unique_ptr<Kernel> make_max_pool_backward_kernel(const KernelArgs& args, bool parallel);
std::unique_ptr<Kernel> make_global_avg_pool_kernel(const KernelArgs& args, bool forward,
                                                    bool parallel);

}  // namespace advmoe
