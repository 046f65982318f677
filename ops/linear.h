// Fully connected layer, PyTorch layout: x [N, I], w [O, I], b [O] -> y = x w^T + b, [N, O].
#pragma once

#include <string>

#include "graph/graph.h"

namespace advmoe {

Val linear(Val x, Val w, const std::string& name = "");
Val linear(Val x, Val w, Val bias, const std::string& name = "");
Val linear_backward_data(Val dy, Val w, const std::string& name = "");     // dy w, [N, I]
Val linear_backward_weights(Val dy, Val x, const std::string& name = "");  // dy^T x, [O, I]

}  // namespace advmoe
