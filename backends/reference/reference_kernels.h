// Internal: the reference backend's own kernel files (plain loops, f32/f64: the test oracle),
// each filling its ops' rows of the table; backends/reference/kernels.cpp lists them.
#pragma once

#include "backends/kernel_registry.h"

namespace advmoe {

void add_reference_conv(KernelTable& table);
void add_reference_batch_norm(KernelTable& table);
void add_reference_pooling(KernelTable& table);
void add_reference_linear(KernelTable& table);
void add_reference_moe(KernelTable& table);  // expert_conv as per-sample loops
}  // namespace advmoe
