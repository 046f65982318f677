// Classification losses on logits [N, K]:
//   softmax_cross_entropy(logits, labels i32 [N]) = mean_n -log softmax(logits_n)[label_n]
//   log_softmax(x) row-wise
//   kl_div(log_p, log_q) = (1/N) sum_n sum_k p_nk (log p_nk - log q_nk), PyTorch's
//     KLDivLoss(reduction='batchmean')(log_q, p); differentiable in both arguments because
//     TRADES does not detach the clean branch.
//   sample_loss(logits, labels[, targets], kind) = the per-sample attack losses [N] of
//     SampleLossAttrs (cross-entropy, DLR, targeted DLR, target margin), for attacks that keep
//     per-sample state; sum() of it differentiates to every sample's own input gradient.
#pragma once

#include <string>

#include "graph/attrs.h"
#include "graph/graph.h"

namespace advmoe {

Val softmax_cross_entropy(Val logits, Val labels, const std::string& name = "");
Val log_softmax(Val x, const std::string& name = "");
Val kl_div(Val log_p, Val log_q, const std::string& name = "");
// `targets` (i32 [N]) is needed by the targeted kinds only (DlrTargeted, TargetMargin).
Val sample_loss(Val logits, Val labels, Val targets, SampleLossAttrs attrs,
                const std::string& name = "");
Val sample_loss(Val logits, Val labels, SampleLossAttrs attrs, const std::string& name = "");

}  // namespace advmoe
