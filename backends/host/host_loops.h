// Kernels as plain host loops shared by both CPU backends: serial for "reference", OpenMP over
// elements or rows for "onednn" (which lists in its entry file, backends/cpu/kernels.cpp, exactly
// which ops fall back to these loops). Each function fills its ops' rows of a KernelTable.
#pragma once

#include "backends/kernel_registry.h"

namespace advmoe {

// fill, relu (+ backward), add, add_n, mul, scale, reshape/stop_gradient copies, sum, mean,
// broadcast_scalar.
void add_elementwise_loops(KernelTable& table, bool parallel);
// channel_affine, concat, channel_slice.
void add_concat_loops(KernelTable& table, bool parallel);
// top1 (+ backward), channel_gate (+ backward), balance_loss (+ backward).
void add_moe_loops(KernelTable& table, bool parallel);
// pgd_step, pgd_start, apgd_step, fab_step.
void add_attack_loops(KernelTable& table, bool parallel);
// softmax cross-entropy, KL divergence, log-softmax, sample_loss (each + backward).
void add_loss_loops(KernelTable& table, bool parallel);
// The eval-mode fusion's fold_batch_norm (compile/eval_fusion.h).
void add_fold_loops(KernelTable& table, bool parallel);
// The optimizer update: sgd_update.
void add_optimizer_loops(KernelTable& table, bool parallel);
// Sparse-CNN masks: topk_mask.
void add_sparse_loops(KernelTable& table, bool parallel);

// The data-parallel gradient all-reduce: allreduce_mean (over runtime/communicator.h's group).
void add_collective_loops(KernelTable& table, bool parallel);
// Batch norm with statistics summed over the process group (BatchNormAttrs::synchronized), train
// mode: batch_norm and batch_norm_backward_data. Both CPU backends route synchronized train-mode
// nodes here (oneDNN's primitive computes its statistics itself, with no hook to sum them).
inline bool synchronized_train(const KernelArgs& args) {
  return args.mode == Mode::Train && std::get<BatchNormAttrs>(args.node.attrs).synchronized;
}
std::unique_ptr<Kernel> sync_batch_norm_forward(const KernelArgs& args, bool parallel);
std::unique_ptr<Kernel> sync_batch_norm_backward_data(const KernelArgs& args, bool parallel);

// All of the above.
KernelTable host_loop_kernels(bool parallel);

}  // namespace advmoe
