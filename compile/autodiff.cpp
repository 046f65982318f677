// Reverse sweep over the forward nodes, calling each op's gradient rule (ops/*.cpp).
#include "compile/autodiff.h"

#include "ops/basic.h"
#include "ops/op_registry.h"
#include "runtime/error.h"

namespace advmoe {

ValueId Gradients::operator[](ValueId target) const {
  auto it = of.find(target);
  ADVMOE_CHECK(it != of.end(), "autodiff: value #" << target << " was not a target");
  return it->second;
}

namespace {

std::string label(const Graph& g, ValueId v) {
  const ValueInfo& info = g.value(v);
  if (!info.name.empty()) return "'" + info.name + "'";
  if (info.producer >= 0) return "output of '" + g.node(info.producer).name + "'";
  return "#" + std::to_string(v);
}

}  // namespace

Gradients autodiff(Graph& g, ValueId loss, const std::vector<ValueId>& targets,
                   const AutodiffOptions& opts) {
  const ValueInfo& loss_info = g.value(loss);
  ADVMOE_CHECK(loss_info.shape.numel() == 1 && is_floating(loss_info.dtype),
               "autodiff: loss " << label(g, loss) << " must be a float scalar, got "
                                 << dtype_name(loss_info.dtype) << loss_info.shape);
  const int forward_nodes = g.num_nodes();
  const size_t nv = static_cast<size_t>(g.num_values());

  // A value needs a gradient when it depends on a target and the loss depends on it.
  std::vector<bool> from_target(nv, false), to_loss(nv, false);
  for (ValueId t : targets) {
    ADVMOE_CHECK(is_floating(g.value(t).dtype),
                 "autodiff: target " << label(g, t) << " is not a float value");
    from_target[static_cast<size_t>(t)] = true;
  }
  for (int i = 0; i < forward_nodes; ++i) {
    bool any = false;
    for (ValueId v : g.node(i).inputs) any = any || from_target[static_cast<size_t>(v)];
    if (any)
      for (ValueId v : g.node(i).outputs) from_target[static_cast<size_t>(v)] = true;
  }
  to_loss[static_cast<size_t>(loss)] = true;
  for (int i = forward_nodes - 1; i >= 0; --i) {
    bool any = false;
    for (ValueId v : g.node(i).outputs) any = any || to_loss[static_cast<size_t>(v)];
    if (any)
      for (ValueId v : g.node(i).inputs) to_loss[static_cast<size_t>(v)] = true;
  }
  auto needs = [&](ValueId v) {
    return from_target[static_cast<size_t>(v)] && to_loss[static_cast<size_t>(v)] &&
           is_floating(g.value(v).dtype);
  };

  // Gradient contributions per value; summed once, by an explicit add_n, when first read.
  std::vector<std::vector<ValueId>> parts(nv);
  std::vector<ValueId> total(nv, kNoValue);
  auto gradient_of = [&](ValueId v) -> ValueId {
    size_t i = static_cast<size_t>(v);
    if (total[i] == kNoValue && !parts[i].empty()) {
      std::vector<Val> terms;
      for (ValueId p : parts[i]) terms.push_back({&g, p});
      total[i] = add_n(terms, "grad_accumulate/" +
                                  (g.value(v).name.empty() ? std::to_string(v) : g.value(v).name))
                     .id;
    }
    return total[i];
  };

  if (needs(loss))
    parts[static_cast<size_t>(loss)].push_back(fill(g, loss_info.shape, 1.0, "grad_seed").id);

  for (int i = forward_nodes - 1; i >= 0; --i) {
    const Node node = g.node(i);  // copy: appending nodes may reallocate the node vector
    GradRequest request{g, node, {}, {}};
    bool any_input = false, any_output = false;
    for (ValueId v : node.inputs) {
      request.needs_grad.push_back(needs(v));
      any_input = any_input || needs(v);
    }
    for (ValueId v : node.outputs) {
      request.output_grads.push_back(gradient_of(v));
      any_output = any_output || request.output_grads.back() != kNoValue;
    }
    if (!any_input || !any_output) continue;
    // Routes held fixed: the choice contributes nothing, so nothing behind it gets a gradient
    // through it (the router network's backward nodes are pruned with it).
    if (node.op == Op::Top1 && !opts.straight_through_routes) continue;
    const OpDef& def = op_def(node.op);
    ADVMOE_CHECK(def.gradient, "autodiff: op " << def.name << " ('" << node.name
                                               << "') lies between the loss and a target but is "
                                                  "not differentiable");
    std::vector<ValueId> grads = def.gradient(request);
    for (size_t k = 0; k < node.inputs.size(); ++k)
      if (request.needs_grad[k] && grads.at(k) != kNoValue)
        parts[static_cast<size_t>(node.inputs[k])].push_back(grads[k]);
  }

  Gradients result;
  for (ValueId t : targets) {
    ValueId grad = gradient_of(t);
    const Shape& shape = g.value(t).shape;
    if (grad == kNoValue) grad = fill(g, shape, 0.0, "grad_zero/" + g.value(t).name).id;
    // A value can be the gradient of two targets (add passes dy to both inputs) or already be
    // an output; give each target its own copy then.
    if (g.value(grad).role != Role::Intermediate) grad = scale(Val{&g, grad}, 1.0).id;
    g.mark_output(grad,
                  opts.prefix + (g.value(t).name.empty() ? std::to_string(t) : g.value(t).name));
    result.of[t] = grad;
  }
  return result;
}

}  // namespace advmoe
