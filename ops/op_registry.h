// The table of OpDefs (one per Op, filled by the op family files of ops/), the one way to append a
// node with its shape rule checked (add_op), and the shape-check helpers the rules use.
#pragma once

#include <functional>
#include <vector>

#include "graph/op_def.h"

namespace advmoe {

const OpDef& op_def(Op op);

// Appends a node of `op` to `graph` after running the op's shape rule, which throws
// advmoe::Error naming the node (`name`, or a fresh "<op>_<k>" when empty).
std::vector<ValueId> add_op(Graph& graph, Op op, const std::string& name,
                            std::vector<ValueId> inputs, Attrs attrs = NoAttrs{});

// Shape-rule helpers that produce errors naming the node and the offending input.
void expect_rank(const Graph& g, const Node& n, int input, int rank);
void expect_same_shape(const Graph& g, const Node& n, int a, int b);
void expect_dtype(const Graph& g, const Node& n, int input, DType dtype);
void expect_inputs(const Graph& g, const Node& n, size_t low, size_t high);
const Shape& in_shape(const Graph& g, const Node& n, int input);
DType in_dtype(const Graph& g, const Node& n, int input);

}  // namespace advmoe
