// A static computation graph: values (shape, dtype, role, parameter group) and nodes in
// topological order. This is the IR only: nodes are appended with their output shapes already
// inferred (ops::add_op runs the op's shape rule first, so a wrong model fails with the node's
// name at build time, not at run time).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph/attrs.h"
#include "graph/op_kind.h"
#include "runtime/dtype.h"
#include "runtime/shape.h"

namespace advmoe {

using ValueId = int;
constexpr ValueId kNoValue = -1;

// Input: fed per run (images, labels). Param: trained weights. Buffer: persistent non-trained
// state of the model (BN running stats). State: persistent state of a training program, not of
// the model (SGD momentum). Intermediate: planned scratch. Loss/Output: results read after a run.
enum class Role { Input, Param, Buffer, State, Intermediate, Loss, Output };
const char* role_name(Role r);

struct ValueInfo {
  std::string name;
  Shape shape;
  DType dtype = DType::F32;
  Role role = Role::Intermediate;
  std::string group;  // parameter group of a Param ("backbone", "router", ...)
  int producer = -1;  // index of the producing node, -1 for Inputs/Params/Buffers

  // Persistent values live in Variables and are bound by name instead of being planned.
  bool persistent() const { return role != Role::Intermediate; }
};

struct Node {
  Op op;
  std::string name;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Attrs attrs;
};

// An output of shape inference: what add_node should create.
struct ValueSpec {
  Shape shape;
  DType dtype;
};

class Graph {
 public:
  explicit Graph(DType float_type = DType::F32) : float_type_(float_type) {}

  // The float type of this graph's parameters and activations (f64 for gradient checks).
  DType float_type() const { return float_type_; }

  ValueId input(const std::string& name, const Shape& shape, DType dtype);
  ValueId input(const std::string& name, const Shape& shape) {
    return input(name, shape, float_type_);
  }
  ValueId param(const std::string& name, const Shape& shape, const std::string& group = "backbone");
  ValueId buffer(const std::string& name, const Shape& shape);
  ValueId state(const std::string& name, const Shape& shape);

  // Appends `node` (op, name, inputs, attrs; no outputs yet) and creates one output value per
  // spec. Only checks that the inputs exist: the shape rule is the caller's (ops/op_registry.h).
  std::vector<ValueId> add_node(Node node, const std::vector<ValueSpec>& outputs);

  // For compile passes (compile/eval_fusion.h), on their own copy of a graph: puts `node` in place
  // of node `index` and makes it the producer of its outputs, which must already exist (the
  // pass reuses values, e.g. a conv takes over the output of the ReLU it absorbed). The caller
  // keeps shapes and the order consistent.
  void replace_node(int index, Node node);

  void mark_loss(ValueId v, const std::string& name);
  void mark_output(ValueId v, const std::string& name);

  const ValueInfo& value(ValueId v) const { return values_.at(static_cast<size_t>(v)); }
  const Node& node(int i) const { return nodes_.at(static_cast<size_t>(i)); }
  int num_values() const { return static_cast<int>(values_.size()); }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const std::vector<Node>& nodes() const { return nodes_; }

  // Value by name; throws when absent.
  ValueId find(const std::string& name) const;
  bool has(const std::string& name) const { return by_name_.count(name) > 0; }
  // Params, optionally only those of one group, in creation order.
  std::vector<ValueId> params(const std::string& group = "") const;
  // A fresh node name such as "relu_12" when the caller gave none.
  std::string unique_name(const std::string& base);

 private:
  ValueId add_value(ValueInfo info);

  DType float_type_;
  std::vector<ValueInfo> values_;
  std::vector<Node> nodes_;
  std::map<std::string, ValueId> by_name_;
  int name_counter_ = 0;
};

// A value together with its graph: the handle the builder functions take and return, so model
// code reads like the math: relu(batch_norm(conv2d(x, w, {1, 1}), bn)).
struct Val {
  Graph* graph = nullptr;
  ValueId id = kNoValue;

  bool valid() const { return graph != nullptr && id != kNoValue; }
  const ValueInfo& info() const { return graph->value(id); }
  const Shape& shape() const { return info().shape; }
};

}  // namespace advmoe
