// The CUDA backend's entry: every op's kernel (cuDNN, cuBLAS or our own), each family listed once.
#include "backends/cuda/cuda_kernels.h"

namespace advmoe {

void register_cuda_kernels(KernelRegistry& registry) {
  KernelTable table;
  add_cuda_elementwise(table);  // fill, relu, add, add_n, mul, scale, copies, reductions
  add_cuda_losses(table);       // softmax CE, log-softmax, KL, sample_loss (+ backward)
  add_cuda_channels(table);     // channel_affine, concat, channel_slice, channel_sum
  add_cuda_routing(table);      // top1, channel_gate, balance_loss (+ backward)
  add_cuda_linear(table);       // linear (cuBLAS) (+ backward)
  add_cuda_pooling(table);      // max / avg / global-avg pooling (+ backward)
  add_cuda_batch_norm(table);   // batch_norm (+ backward), fold_batch_norm
  add_cuda_conv(table);         // conv2d (cuDNN) (+ backward)
  add_cuda_expert_conv(table);  // expert_conv: samples grouped per expert (cuDNN)
  add_cuda_attack(table);       // pgd_step, pgd_start, apgd_step, fab_step
  add_cuda_optimizer(table);    // sgd_update
  add_cuda_sparse(table);       // topk_mask
  add_cuda_collective(table);   // allreduce_mean (NCCL)
  register_table(registry, "cuda", table);
}

}  // namespace advmoe
