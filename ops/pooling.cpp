// Shape and gradient rules of the pooling ops. Max-pool backward recomputes each window's argmax
// from x (first maximum wins) instead of keeping a workspace, so eval-mode plans need none.
#include "ops/pooling.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Val max_pool(Val x, int kernel, int stride, int padding, const std::string& name) {
  return emit1(*x.graph, Op::MaxPool, name, {x}, PoolAttrs{kernel, stride, padding, {}});
}
Val avg_pool(Val x, int kernel, int stride, int padding, const std::string& name) {
  return emit1(*x.graph, Op::AvgPool, name, {x}, PoolAttrs{kernel, stride, padding, {}});
}
Val global_avg_pool(Val x, const std::string& name) {
  return emit1(*x.graph, Op::GlobalAvgPool, name, {x});
}

namespace {

Shape pool_output_shape(const Node& n, const Shape& x) {
  const PoolAttrs& a = std::get<PoolAttrs>(n.attrs);
  const char* op = op_def(n.op).name;
  ADVMOE_CHECK(x.rank() == 4, op << " '" << n.name << "': input must be [N, H, W, C], got " << x);
  ADVMOE_CHECK(a.kernel >= 1 && a.stride >= 1 && a.padding >= 0 && 2 * a.padding <= a.kernel,
               op << " '" << n.name << "': bad kernel " << a.kernel << " / stride " << a.stride
                  << " / padding " << a.padding);
  int64_t ho = (x[1] + 2 * a.padding - a.kernel) / a.stride + 1;
  int64_t wo = (x[2] + 2 * a.padding - a.kernel) / a.stride + 1;
  ADVMOE_CHECK(ho >= 1 && wo >= 1,
               op << " '" << n.name << "': window " << a.kernel << " does not fit input " << x);
  return Shape{x[0], ho, wo, x[3]};
}

std::vector<ValueSpec> pool_forward(const Graph& g, const Node& n) {
  expect_inputs(g, n, 1, 1);
  return {{pool_output_shape(n, in_shape(g, n, 0)), in_dtype(g, n, 0)}};
}

// Backward pool nodes: input 0 is dy, attrs.result_shape is x's shape.
std::vector<ValueSpec> pool_backward(const Graph& g, const Node& n) {
  const Shape& x = std::get<PoolAttrs>(n.attrs).result_shape;
  ADVMOE_CHECK(in_shape(g, n, 0) == pool_output_shape(n, x),
               op_def(n.op).name << " '" << n.name << "': gradient shape " << in_shape(g, n, 0)
                                 << " does not match input " << x);
  return {{x, in_dtype(g, n, 0)}};
}

PoolAttrs with_result(const Node& n, const Shape& x) {
  PoolAttrs a = std::get<PoolAttrs>(n.attrs);
  a.result_shape = x;
  return a;
}

}  // namespace

void register_pool_ops(OpTable& t) {
  row(t, Op::MaxPool) = {"max_pool", pool_forward, [](GradRequest& r) {
                           Val dx =
                               emit1(r.graph, Op::MaxPoolBackward, r.backward_name("backward"),
                                     {r.dout(0), r.in(0)}, with_result(r.node, r.in(0).shape()));
                           return std::vector<ValueId>{dx.id};
                         }};
  row(t, Op::MaxPoolBackward) = {
      "max_pool_backward",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 2);
        ADVMOE_CHECK(in_shape(g, n, 1) == std::get<PoolAttrs>(n.attrs).result_shape,
                     "max_pool_backward '" << n.name << "': x shape mismatch");
        return pool_backward(g, n);
      },
      nullptr};
  row(t, Op::AvgPool) = {"avg_pool", pool_forward, [](GradRequest& r) {
                           Val dx = emit1(r.graph, Op::AvgPoolBackward, r.backward_name("backward"),
                                          {r.dout(0)}, with_result(r.node, r.in(0).shape()));
                           return std::vector<ValueId>{dx.id};
                         }};
  row(t, Op::AvgPoolBackward) = {"avg_pool_backward",
                                 [](const Graph& g, const Node& n) {
                                   expect_inputs(g, n, 1, 1);
                                   return pool_backward(g, n);
                                 },
                                 nullptr};
  row(t, Op::GlobalAvgPool) = {
      "global_avg_pool",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 1, 1);
        expect_rank(g, n, 0, 4);
        const Shape& x = in_shape(g, n, 0);
        return std::vector<ValueSpec>{{Shape{x[0], x[3]}, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        Val dx = emit1(r.graph, Op::GlobalAvgPoolBackward, r.backward_name("backward"), {r.dout(0)},
                       ShapeAttrs{r.in(0).shape(), 0});
        return std::vector<ValueId>{dx.id};
      }};
  row(t, Op::GlobalAvgPoolBackward) = {
      "global_avg_pool_backward",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 1, 1);
        const Shape& x = std::get<ShapeAttrs>(n.attrs).shape;
        ADVMOE_CHECK(x.rank() == 4 && in_shape(g, n, 0) == (Shape{x[0], x[3]}),
                     "global_avg_pool_backward '" << n.name << "': gradient " << in_shape(g, n, 0)
                                                  << " does not match input " << x);
        return std::vector<ValueSpec>{{x, in_dtype(g, n, 0)}};
      },
      nullptr};
}

}  // namespace advmoe
