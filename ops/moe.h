// Mixture-of-experts nodes (docs/moe.md):
//  - top1(logits [N, E]) -> {route i32 [N], gate [N]}: route = argmax (ties: lowest index), gate
//    = 1 in forward; its gradient goes straight through to the chosen logit (straight-through
//    estimator), unchosen logits get exactly zero.
//  - expert_conv(x [N, H, W, C], w [E * o, k, k, C], route [N]) -> [N, Ho, Wo, o]: sample n is
//    convolved with its expert's slice w[route[n] * o, (route[n] + 1) * o) only. Kernels group
//    samples by expert; `dense` computes every expert and selects (for parity tests).
//  - channel_gate(y [N, ...], gate [N]) -> gate[n] * y[n]: the STE path into the router;
//    dgate[n] = sum dz[n] * y[n].
//  - balance_loss(logits [N, E], route [N]) = E * sum_e f_e * mean_n softmax(logits_n)_e with
//    f_e the fraction of samples routed to e (Switch Transformer's load-balancing loss; f is a
//    constant, the gradient flows through the mean router probabilities).
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace advmoe {

struct Route {
  Val index;  // i32 [N]
  Val gate;   // [N], 1 in forward
};

Route top1(Val logits, const std::string& name = "");
Val expert_conv(Val x, Val w, Val route, int experts, int stride, int padding, bool dense = false,
                const std::string& name = "");
Val channel_gate(Val y, Val gate, const std::string& name = "");
Val balance_loss(Val logits, Val route, const std::string& name = "");

}  // namespace advmoe
