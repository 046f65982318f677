// Reverse-mode automatic differentiation on the graph itself: appends backward nodes that
// compute d(loss)/d(target) for any chosen targets (all params, one parameter group, or an
// Input such as the image an attack perturbs).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace advmoe {

struct Gradients {
  std::map<ValueId, ValueId> of;  // target -> its gradient value (an Output)
  ValueId operator[](ValueId target) const;
};

struct AutodiffOptions {
  // The MoE router's top-1 choice is piecewise constant, so the true gradient has no router
  // term; training the routers needs the straight-through surrogate (the gate's gradient flows
  // back into the router logits), attacks need the true gradient of the model as it runs
  // (false: routes held fixed, no backward node through a top1).
  bool straight_through_routes = true;
  // Gradient outputs are named prefix + target name.
  std::string prefix = "grad/";
};

// Requires: `loss` is a float scalar; every target is a float value.
// Ensures: each target's gradient is an Output named "grad/<target name>". Only backward nodes on
// a path from a target to the loss are created (pruning), and a value used several times gets an
// explicit add_n node summing its gradient contributions (fan-out). A target the loss does not
// depend on gets a zero gradient.
Gradients autodiff(Graph& graph, ValueId loss, const std::vector<ValueId>& targets,
                   const AutodiffOptions& options = {});

// The name autodiff gives the gradient of `value_name`.
inline std::string grad_name(const std::string& value_name) {
  return "grad/" + value_name;
}

}  // namespace advmoe
