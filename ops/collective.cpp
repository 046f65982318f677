// Shape rule of the all-reduce node.
#include "ops/collective.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

std::vector<Val> allreduce_mean(const std::vector<Val>& values, const std::string& name) {
  ADVMOE_CHECK(!values.empty(), "allreduce_mean '" << name << "': needs at least one tensor");
  return emit(*values[0].graph, Op::AllReduceMean, name, values);
}

void register_collective_ops(OpTable& t) {
  OpDef& def = row(t, Op::AllReduceMean);
  def.name = "allreduce_mean";
  def.infer = [](const Graph& g, const Node& n) {
    expect_inputs(g, n, 1, 1 << 20);
    std::vector<ValueSpec> out;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const int k = static_cast<int>(i);
      ADVMOE_CHECK(is_floating(in_dtype(g, n, k)),
                   "allreduce_mean '" << n.name << "': input " << k << " ('"
                                      << g.value(n.inputs[i]).name << "') must be a float tensor");
      expect_dtype(g, n, k, in_dtype(g, n, 0));
      out.push_back({in_shape(g, n, k), in_dtype(g, n, k)});
    }
    return out;
  };
}

}  // namespace advmoe
