// OpDef: the meaning of a node kind, independent of any backend: its shape rule and its gradient
// rule expressed as backward nodes. The IR declares the contract; ops/ fills one OpDef per Op
// (ops/op_registry.h) and backends/ supply the kernels.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace advmoe {

// What a gradient rule sees: the forward node, the gradient flowing into each of its outputs
// (kNoValue where none flows) and which inputs need a gradient. It returns one gradient value
// per input (kNoValue where not needed), creating only the backward nodes that are needed, which
// is how autodiff prunes unneeded kernels (e.g. conv backward_weights during an attack).
struct GradRequest {
  Graph& graph;
  const Node& node;
  std::vector<ValueId> output_grads;
  std::vector<bool> needs_grad;

  Val in(int i) const { return {&graph, node.inputs.at(static_cast<size_t>(i))}; }
  Val out(int i) const { return {&graph, node.outputs.at(static_cast<size_t>(i))}; }
  Val dout(int i) const { return {&graph, output_grads.at(static_cast<size_t>(i))}; }
  bool needs(int i) const { return needs_grad.at(static_cast<size_t>(i)); }
  std::string backward_name(const char* suffix) const { return node.name + "/" + suffix; }
};

struct OpDef {
  const char* name = "";
  // Validates the node's inputs and attributes; returns its output shapes and dtypes.
  std::function<std::vector<ValueSpec>(const Graph&, const Node&)> infer;
  // Empty for nodes that are not differentiated (backward nodes, integer outputs).
  std::function<std::vector<ValueId>(GradRequest&)> gradient;
  // Inputs the kernel writes in place (the optimizer update's parameter and momentum): a Plan
  // runs no node after it that reads them (compile/plan.cpp checks).
  std::vector<int> updates_inputs;
};

}  // namespace advmoe
