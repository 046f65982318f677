// Graph construction: values, nodes (appended with their inferred outputs), lookups.
#include "graph/graph.h"

#include "runtime/error.h"

namespace advmoe {

const char* role_name(Role r) {
  switch (r) {
    case Role::Input:
      return "input";
    case Role::Param:
      return "param";
    case Role::State:
      return "state";
    case Role::Buffer:
      return "buffer";
    case Role::Intermediate:
      return "intermediate";
    case Role::Loss:
      return "loss";
    case Role::Output:
      return "output";
  }
  return "?";
}

ValueId Graph::add_value(ValueInfo info) {
  if (!info.name.empty()) {
    ADVMOE_CHECK(!by_name_.count(info.name),
                 "graph already has a value named '" << info.name << "'");
    by_name_[info.name] = static_cast<ValueId>(values_.size());
  }
  values_.push_back(std::move(info));
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::input(const std::string& name, const Shape& shape, DType dtype) {
  return add_value({name, shape, dtype, Role::Input, "", -1});
}

ValueId Graph::param(const std::string& name, const Shape& shape, const std::string& group) {
  return add_value({name, shape, float_type_, Role::Param, group, -1});
}

ValueId Graph::buffer(const std::string& name, const Shape& shape) {
  return add_value({name, shape, float_type_, Role::Buffer, "", -1});
}

ValueId Graph::state(const std::string& name, const Shape& shape) {
  return add_value({name, shape, float_type_, Role::State, "", -1});
}

std::vector<ValueId> Graph::add_node(Node node, const std::vector<ValueSpec>& outputs) {
  ADVMOE_CHECK(!node.name.empty(), "internal: a node needs a name");
  ADVMOE_CHECK(node.outputs.empty(), "node '" << node.name << "': outputs are created here");
  for (ValueId v : node.inputs)
    ADVMOE_CHECK(v >= 0 && v < num_values(),
                 "node '" << node.name << "': input value id " << v << " does not exist");
  int index = num_nodes();
  for (const ValueSpec& spec : outputs) {
    // Outputs are anonymous unless marked; the node name keeps them traceable in errors.
    ValueInfo info{"", spec.shape, spec.dtype, Role::Intermediate, "", index};
    node.outputs.push_back(add_value(info));
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().outputs;
}

void Graph::replace_node(int index, Node node) {
  ADVMOE_CHECK(index >= 0 && index < num_nodes(), "internal: no node #" << index);
  for (const auto* list : {&node.inputs, &node.outputs})
    for (ValueId v : *list)
      ADVMOE_CHECK(v >= 0 && v < num_values(),
                   "node '" << node.name << "': value id " << v << " does not exist");
  for (ValueId v : node.outputs) values_[static_cast<size_t>(v)].producer = index;
  nodes_[static_cast<size_t>(index)] = std::move(node);
}

void Graph::mark_loss(ValueId v, const std::string& name) {
  mark_output(v, name);
  values_.at(static_cast<size_t>(v)).role = Role::Loss;
}

void Graph::mark_output(ValueId v, const std::string& name) {
  ValueInfo& info = values_.at(static_cast<size_t>(v));
  ADVMOE_CHECK(info.role == Role::Intermediate, "cannot mark " << role_name(info.role) << " value '"
                                                               << info.name << "' as output '"
                                                               << name << "'");
  ADVMOE_CHECK(!by_name_.count(name), "graph already has a value named '" << name << "'");
  info.role = Role::Output;
  info.name = name;
  by_name_[name] = v;
}

ValueId Graph::find(const std::string& name) const {
  auto it = by_name_.find(name);
  ADVMOE_CHECK(it != by_name_.end(), "graph has no value named '" << name << "'");
  return it->second;
}

std::vector<ValueId> Graph::params(const std::string& group) const {
  std::vector<ValueId> out;
  for (ValueId v = 0; v < num_values(); ++v)
    if (values_[static_cast<size_t>(v)].role == Role::Param &&
        (group.empty() || values_[static_cast<size_t>(v)].group == group))
      out.push_back(v);
  return out;
}

std::string Graph::unique_name(const std::string& base) {
  return base + "_" + std::to_string(name_counter_++);
}

}  // namespace advmoe
