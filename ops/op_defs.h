// Internal: each op family's file fills its rows of the OpDef table.
#pragma once

#include <array>

#include "ops/op_registry.h"

namespace advmoe {

using OpTable = std::array<OpDef, static_cast<size_t>(Op::kCount)>;

inline OpDef& row(OpTable& t, Op op) {
  return t[static_cast<size_t>(op)];
}

void register_basic_ops(OpTable& table);  // fill, relu, add, add_n, mul, scale, reshape, sum, mean
void register_conv_ops(OpTable& table);   // conv2d and its backward, channel_sum
void register_batch_norm_ops(OpTable& table);  // batch_norm and its backward
void register_pool_ops(OpTable& table);        // max/avg/global-avg pooling
void register_linear_ops(OpTable& table);      // linear
void register_loss_ops(OpTable& table);        // softmax CE, log-softmax, KL
void register_moe_ops(OpTable& table);         // top1, expert_conv, channel_gate
void register_concat_ops(OpTable& table);      // concat_channels, channel_slice
void register_attack_ops(OpTable& table);      // pgd_step, pgd_start
void register_optimizer_ops(OpTable& table);   // sgd_update
void register_sparse_ops(OpTable& table);      // topk_mask
void register_collective_ops(OpTable& table);  // allreduce_mean

}  // namespace advmoe
