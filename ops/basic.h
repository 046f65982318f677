// Elementwise and shape ops: fill, relu, add, add_n (gradient accumulation), mul, scale,
// reshape/flatten, sum, mean and the scalar broadcast that is their gradient.
// Contract: binary elementwise ops require equal shapes (no implicit broadcasting).
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace advmoe {

Val fill(Graph& g, const Shape& shape, double value, const std::string& name = "");
Val relu(Val x, const std::string& name = "");
Val relu_backward(Val dy, Val y, const std::string& name = "");  // dy where y > 0
Val add(Val a, Val b, const std::string& name = "");
Val add_n(const std::vector<Val>& terms, const std::string& name = "");
Val mul(Val a, Val b, const std::string& name = "");
Val scale(Val x, double alpha, const std::string& name = "");
Val reshape(Val x, const Shape& shape, const std::string& name = "");
Val flatten(Val x, const std::string& name = "");  // [N, ...] -> [N, rest]
// Identity in forward; no gradient flows back through it (PyTorch's detach()).
Val stop_gradient(Val x, const std::string& name = "");
Val sum(Val x, const std::string& name = "");   // scalar
Val mean(Val x, const std::string& name = "");  // scalar
// A tensor of `shape` whose every element is scale * s, for s a scalar.
Val broadcast_scalar(Val s, const Shape& shape, double scale, const std::string& name = "");

inline Val operator+(Val a, Val b) {
  return add(a, b);
}
inline Val operator*(Val a, Val b) {
  return mul(a, b);
}
inline Val operator*(double alpha, Val x) {
  return scale(x, alpha);
}

}  // namespace advmoe
