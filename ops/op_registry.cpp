// The table from Op to OpDef, and the shape-check helpers every op definition uses.
#include "ops/op_registry.h"

#include <array>

#include "ops/op_defs.h"
#include "runtime/error.h"

namespace advmoe {

namespace {
std::array<OpDef, static_cast<size_t>(Op::kCount)> build_table() {
  std::array<OpDef, static_cast<size_t>(Op::kCount)> table{};
  register_basic_ops(table);
  register_conv_ops(table);
  register_batch_norm_ops(table);
  register_pool_ops(table);
  register_linear_ops(table);
  register_loss_ops(table);
  register_concat_ops(table);
  register_moe_ops(table);
  register_attack_ops(table);
  register_optimizer_ops(table);
  register_sparse_ops(table);
  register_collective_ops(table);
  for (size_t i = 0; i < table.size(); ++i)
    ADVMOE_CHECK(table[i].infer, "internal: op #" << i << " has no definition");
  return table;
}
}  // namespace

const OpDef& op_def(Op op) {
  static const auto table = build_table();
  return table.at(static_cast<size_t>(op));
}

std::vector<ValueId> add_op(Graph& g, Op op, const std::string& name, std::vector<ValueId> inputs,
                            Attrs attrs) {
  const OpDef& def = op_def(op);
  Node node{
      op, name.empty() ? g.unique_name(def.name) : name, std::move(inputs), {}, std::move(attrs)};
  for (ValueId v : node.inputs)
    ADVMOE_CHECK(v >= 0 && v < g.num_values(),
                 def.name << " '" << node.name << "': input value id " << v << " does not exist");
  std::vector<ValueSpec> specs = def.infer(g, node);
  return g.add_node(std::move(node), specs);
}

const Shape& in_shape(const Graph& g, const Node& n, int input) {
  return g.value(n.inputs.at(static_cast<size_t>(input))).shape;
}

DType in_dtype(const Graph& g, const Node& n, int input) {
  return g.value(n.inputs.at(static_cast<size_t>(input))).dtype;
}

void expect_inputs(const Graph& g, const Node& n, size_t low, size_t high) {
  (void)g;
  ADVMOE_CHECK(n.inputs.size() >= low && n.inputs.size() <= high,
               op_def(n.op).name << " '" << n.name << "': expected " << low
                                 << (low == high ? "" : " to " + std::to_string(high))
                                 << " inputs, got " << n.inputs.size());
}

void expect_rank(const Graph& g, const Node& n, int input, int rank) {
  const Shape& s = in_shape(g, n, input);
  ADVMOE_CHECK(s.rank() == rank, op_def(n.op).name << " '" << n.name << "': input " << input
                                                   << " must have rank " << rank << ", got shape "
                                                   << s);
}

void expect_same_shape(const Graph& g, const Node& n, int a, int b) {
  ADVMOE_CHECK(in_shape(g, n, a) == in_shape(g, n, b),
               op_def(n.op).name << " '" << n.name << "': inputs " << a << " and " << b
                                 << " must have the same shape, got " << in_shape(g, n, a)
                                 << " and " << in_shape(g, n, b));
}

void expect_dtype(const Graph& g, const Node& n, int input, DType dtype) {
  ADVMOE_CHECK(in_dtype(g, n, input) == dtype, op_def(n.op).name
                                                   << " '" << n.name << "': input " << input
                                                   << " must be " << dtype_name(dtype) << ", got "
                                                   << dtype_name(in_dtype(g, n, input)));
}

}  // namespace advmoe
