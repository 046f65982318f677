// Batch normalization over all axes but the last (channels): [N, H, W, C] or [N, C].
// Inputs x, gamma [C], beta [C], running_mean [C], running_var [C] (Buffers); outputs y and the
// statistics used (saved_mean, saved_var). Train mode normalizes with the batch's biased variance
// and updates the running stats in place, PyTorch style (momentum, unbiased variance); eval mode
// normalizes with the running stats. Both modes are differentiable (attacks use eval mode).
#pragma once

#include <string>

#include "graph/attrs.h"
#include "graph/graph.h"

namespace advmoe {

Val batch_norm(Val x, Val gamma, Val beta, Val running_mean, Val running_var,
               BatchNormAttrs attrs = {}, const std::string& name = "");
Val batch_norm_backward_data(Val dy, Val x, Val gamma, Val saved_mean, Val saved_var,
                             BatchNormAttrs attrs, const std::string& name = "");
// Returns {dgamma, dbeta}.
std::vector<Val> batch_norm_backward_params(Val dy, Val x, Val saved_mean, Val saved_var,
                                            BatchNormAttrs attrs, const std::string& name = "");

// An eval-mode batch norm folded into the convolution before it (compile/eval_fusion.h): with
// s = gamma / sqrt(running_var + eps) per output channel, returns {w * s (each output channel's
// filter scaled), (bias - running_mean) * s + beta}; `bias` may be invalid (no conv bias, i.e.
// zero). w is [O, kh, kw, C] and every vector [c] with O a multiple of c: c = O for a conv, and
// for an expert conv's E banks of c filters each, filter o takes channel o % c's scale. Not
// differentiated: the pass runs after autodiff, on Plans that take no gradient w.r.t. these
// parameters.
std::vector<Val> fold_batch_norm(Val w, Val gamma, Val beta, Val running_mean, Val running_var,
                                 Val bias, BatchNormAttrs attrs, const std::string& name = "");

}  // namespace advmoe
