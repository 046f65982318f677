// OpDef: the meaning of a node kind, independent of any backend: its shape rule and its
// gradient rule expressed as backward nodes. Kernels live per backend (ops/kernel.h).
#pragma once

#include <functional>
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
};

const OpDef& op_def(Op op);

// Shape-rule helpers that produce errors naming the node and the offending input.
void expect_rank(const Graph& g, const Node& n, int input, int rank);
void expect_same_shape(const Graph& g, const Node& n, int a, int b);
void expect_dtype(const Graph& g, const Node& n, int input, DType dtype);
void expect_inputs(const Graph& g, const Node& n, size_t low, size_t high);
const Shape& in_shape(const Graph& g, const Node& n, int input);
DType in_dtype(const Graph& g, const Node& n, int input);

}  // namespace advmoe
