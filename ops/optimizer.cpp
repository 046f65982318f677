// Shape rule of the SGD update node.
#include "ops/optimizer.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Val sgd_update(Val param, Val grad, Val momentum, Val lr, const SgdAttrs& attrs,
               const std::string& name) {
  return emit1(*param.graph, Op::SgdUpdate, name, {param, grad, momentum, lr}, attrs);
}

void register_optimizer_ops(OpTable& t) {
  OpDef& def = row(t, Op::SgdUpdate);
  def.name = "sgd_update";
  def.infer = [](const Graph& g, const Node& n) {
    expect_inputs(g, n, 4, 4);
    expect_same_shape(g, n, 0, 1);
    expect_same_shape(g, n, 0, 2);
    for (int i = 1; i < 4; ++i) expect_dtype(g, n, i, in_dtype(g, n, 0));
    ADVMOE_CHECK(is_floating(in_dtype(g, n, 0)),
                 "sgd_update '" << n.name << "': the parameter must be a float tensor");
    ADVMOE_CHECK(in_shape(g, n, 3).numel() == 1,
                 "sgd_update '" << n.name << "': the learning rate must be a scalar, got shape "
                                << in_shape(g, n, 3));
    // In-place state must be persistent: an intermediate would be overwritten by the planner.
    for (int i : {0, 2})
      ADVMOE_CHECK(g.value(n.inputs[static_cast<size_t>(i)]).persistent(),
                   "sgd_update '" << n.name << "': input " << i << " is updated in place and "
                                  << "must be a parameter or state value");
    const SgdAttrs& a = std::get<SgdAttrs>(n.attrs);
    ADVMOE_CHECK(a.momentum >= 0 && a.weight_decay >= 0,
                 "sgd_update '" << n.name << "': needs momentum >= 0 and weight decay >= 0");
    return std::vector<ValueSpec>{{Shape{}, in_dtype(g, n, 0)}};
  };
  def.updates_inputs = {0, 2};
}

}  // namespace advmoe
