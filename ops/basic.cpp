// Shape and gradient rules of the elementwise and shape ops.
#include "ops/basic.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Val fill(Graph& g, const Shape& shape, double value, const std::string& name) {
  return emit1(g, Op::Fill, name, {}, ShapeAttrs{shape, value});
}
Val relu(Val x, const std::string& name) {
  return emit1(*x.graph, Op::Relu, name, {x});
}
Val relu_backward(Val dy, Val y, const std::string& name) {
  return emit1(*dy.graph, Op::ReluBackward, name, {dy, y});
}
Val add(Val a, Val b, const std::string& name) {
  return emit1(*a.graph, Op::Add, name, {a, b});
}
Val add_n(const std::vector<Val>& terms, const std::string& name) {
  ADVMOE_CHECK(!terms.empty(), "add_n '" << name << "': needs at least one term");
  if (terms.size() == 1) return terms[0];
  return emit1(*terms[0].graph, Op::AddN, name, terms);
}
Val mul(Val a, Val b, const std::string& name) {
  return emit1(*a.graph, Op::Mul, name, {a, b});
}
Val scale(Val x, double alpha, const std::string& name) {
  return emit1(*x.graph, Op::Scale, name, {x}, ScaleAttrs{alpha});
}
Val reshape(Val x, const Shape& shape, const std::string& name) {
  return emit1(*x.graph, Op::Reshape, name, {x}, ShapeAttrs{shape, 0});
}
Val flatten(Val x, const std::string& name) {
  const Shape& s = x.shape();
  return reshape(x, Shape{s[0], s.numel() / s[0]}, name);
}
Val stop_gradient(Val x, const std::string& name) {
  return emit1(*x.graph, Op::StopGradient, name, {x});
}
Val sum(Val x, const std::string& name) {
  return emit1(*x.graph, Op::Sum, name, {x});
}
Val mean(Val x, const std::string& name) {
  return emit1(*x.graph, Op::Mean, name, {x});
}
Val broadcast_scalar(Val s, const Shape& shape, double scale, const std::string& name) {
  return emit1(*s.graph, Op::BroadcastScalar, name, {s}, ShapeAttrs{shape, scale});
}

namespace {

std::vector<ValueSpec> same_as_input0(const Graph& g, const Node& n) {
  return {{in_shape(g, n, 0), in_dtype(g, n, 0)}};
}

std::vector<ValueSpec> elementwise_binary(const Graph& g, const Node& n) {
  expect_inputs(g, n, 2, 2);
  expect_same_shape(g, n, 0, 1);
  ADVMOE_CHECK(is_floating(in_dtype(g, n, 0)) && in_dtype(g, n, 0) == in_dtype(g, n, 1),
               op_def(n.op).name << " '" << n.name << "': inputs must share one float dtype");
  return same_as_input0(g, n);
}

std::vector<ValueSpec> unary_float(const Graph& g, const Node& n) {
  expect_inputs(g, n, 1, 1);
  ADVMOE_CHECK(is_floating(in_dtype(g, n, 0)),
               op_def(n.op).name << " '" << n.name << "': input must be a float tensor");
  return same_as_input0(g, n);
}

std::vector<ValueSpec> scalar_of_input0(const Graph& g, const Node& n) {
  expect_inputs(g, n, 1, 1);
  return {{Shape{}, in_dtype(g, n, 0)}};
}

}  // namespace

void register_basic_ops(OpTable& t) {
  row(t, Op::Fill) = {
      "fill",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 0, 0);
        return std::vector<ValueSpec>{{std::get<ShapeAttrs>(n.attrs).shape, g.float_type()}};
      },
      nullptr};

  row(t, Op::Relu) = {"relu", unary_float, [](GradRequest& r) {
                        return std::vector<ValueId>{
                            relu_backward(r.dout(0), r.out(0), r.backward_name("relu_bwd")).id};
                      }};
  row(t, Op::ReluBackward) = {"relu_backward", elementwise_binary, nullptr};

  // The gradient of a sum flows unchanged to every term: the same value, no copy.
  auto pass_through = [](GradRequest& r) {
    return std::vector<ValueId>(r.node.inputs.size(), r.output_grads[0]);
  };
  row(t, Op::Add) = {"add", elementwise_binary, pass_through};
  row(t, Op::AddN) = {"add_n",
                      [](const Graph& g, const Node& n) {
                        ADVMOE_CHECK(n.inputs.size() >= 2,
                                     "add_n '" << n.name << "': needs at least two inputs");
                        for (size_t i = 1; i < n.inputs.size(); ++i)
                          expect_same_shape(g, n, 0, static_cast<int>(i));
                        return same_as_input0(g, n);
                      },
                      pass_through};

  row(t, Op::Mul) = {"mul", elementwise_binary, [](GradRequest& r) {
                       std::vector<ValueId> grads(2, kNoValue);
                       if (r.needs(0)) grads[0] = mul(r.dout(0), r.in(1), r.backward_name("da")).id;
                       if (r.needs(1)) grads[1] = mul(r.dout(0), r.in(0), r.backward_name("db")).id;
                       return grads;
                     }};

  row(t, Op::Scale) = {
      "scale", unary_float, [](GradRequest& r) {
        double alpha = std::get<ScaleAttrs>(r.node.attrs).alpha;
        return std::vector<ValueId>{scale(r.dout(0), alpha, r.backward_name("scale_bwd")).id};
      }};

  row(t, Op::Reshape) = {
      "reshape",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 1, 1);
        const Shape& to = std::get<ShapeAttrs>(n.attrs).shape;
        ADVMOE_CHECK(
            to.numel() == in_shape(g, n, 0).numel(),
            "reshape '" << n.name << "': cannot reshape " << in_shape(g, n, 0) << " to " << to);
        return std::vector<ValueSpec>{{to, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        return std::vector<ValueId>{
            reshape(r.dout(0), r.in(0).shape(), r.backward_name("reshape_bwd")).id};
      }};

  row(t, Op::StopGradient) = {"stop_gradient", unary_float,
                              [](GradRequest&) { return std::vector<ValueId>{kNoValue}; }};

  row(t, Op::Sum) = {
      "sum", scalar_of_input0, [](GradRequest& r) {
        return std::vector<ValueId>{
            broadcast_scalar(r.dout(0), r.in(0).shape(), 1.0, r.backward_name("sum_bwd")).id};
      }};
  row(t, Op::Mean) = {
      "mean", scalar_of_input0, [](GradRequest& r) {
        double n = static_cast<double>(r.in(0).shape().numel());
        return std::vector<ValueId>{
            broadcast_scalar(r.dout(0), r.in(0).shape(), 1.0 / n, r.backward_name("mean_bwd")).id};
      }};
  row(t, Op::BroadcastScalar) = {
      "broadcast_scalar",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 1, 1);
        ADVMOE_CHECK(in_shape(g, n, 0).numel() == 1,
                     "broadcast_scalar '" << n.name << "': input must be a scalar");
        return std::vector<ValueSpec>{{std::get<ShapeAttrs>(n.attrs).shape, in_dtype(g, n, 0)}};
      },
      nullptr};
}

}  // namespace advmoe
