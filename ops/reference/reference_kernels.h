// Internal: registration functions of the reference kernel files.
#pragma once

#include "ops/kernel.h"

namespace advmoe {

void register_reference_conv(KernelRegistry& registry);
void register_reference_batch_norm(KernelRegistry& registry);
void register_reference_pooling(KernelRegistry& registry);
void register_reference_linear(KernelRegistry& registry);
void register_reference_losses(KernelRegistry& registry);
void register_reference_moe(KernelRegistry& registry);  // expert_conv as per-sample loops
// Elementwise ops share one loop implementation between backends (ops/cpu/elementwise.cpp):
// registered serial for "reference" and OpenMP-parallel for "onednn".
void register_elementwise(KernelRegistry& registry, const char* backend, bool parallel);
// top1 and channel_gate loops likewise.
void register_moe_loops(KernelRegistry& registry, const char* backend, bool parallel);
// The PGD step likewise.
void register_attack_loops(KernelRegistry& registry, const char* backend, bool parallel);
// Channel concat/slice copies likewise.
void register_concat_loops(KernelRegistry& registry, const char* backend, bool parallel);
// Softmax CE and KL loops likewise; log-softmax too unless the backend has its own.
void register_losses(KernelRegistry& registry, const char* backend, bool parallel,
                     bool with_log_softmax);

}  // namespace advmoe
