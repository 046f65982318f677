// Shape rule of the PGD step node.
#include "ops/attack.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Val pgd_step(Val x, Val x0, Val gradient, double epsilon, double step_size, bool l2,
             const std::string& name) {
  return emit1(*x.graph, Op::PgdStep, name, {x, x0, gradient},
               PgdStepAttrs{epsilon, step_size, l2});
}

Val pgd_start(Val x0, Val key, const PgdStartAttrs& attrs, const std::string& name) {
  return emit1(*x0.graph, Op::PgdStart, name, {x0, key}, attrs);
}

Val apgd_step(Val x, Val x_prev, Val x0, Val gradient, Val eta, Val alpha, double epsilon, bool l2,
              const std::string& name) {
  return emit1(*x.graph, Op::ApgdStep, name, {x, x_prev, x0, gradient, eta, alpha},
               ApgdStepAttrs{epsilon, l2});
}

Val fab_step(Val x, Val x0, Val w, Val f, const FabStepAttrs& attrs, const std::string& name) {
  return emit1(*x.graph, Op::FabStep, name, {x, x0, w, f}, attrs);
}

namespace {

// Inputs [first, last) have input 0's shape; `per_sample` inputs are [N].
void expect_batch_inputs(const Graph& g, const Node& n, int same_last,
                         std::initializer_list<int> per_sample) {
  ADVMOE_CHECK(in_shape(g, n, 0).rank() >= 1, n.name << ": needs a batch axis");
  for (int i = 1; i < same_last; ++i) expect_same_shape(g, n, 0, i);
  const Shape rows{in_shape(g, n, 0)[0]};
  for (int i : per_sample)
    ADVMOE_CHECK(in_shape(g, n, i) == rows, n.name << ": input " << i << " must be " << rows
                                                   << " (one value per sample), got "
                                                   << in_shape(g, n, i));
}

}  // namespace

void register_attack_ops(OpTable& t) {
  row(t, Op::ApgdStep) = {"apgd_step",
                          [](const Graph& g, const Node& n) {
                            expect_inputs(g, n, 6, 6);
                            expect_batch_inputs(g, n, 4, {4});
                            ADVMOE_CHECK(in_shape(g, n, 5) == Shape{},
                                         "apgd_step '" << n.name << "': alpha must be a scalar");
                            ADVMOE_CHECK(std::get<ApgdStepAttrs>(n.attrs).epsilon >= 0,
                                         "apgd_step '" << n.name << "': needs epsilon >= 0");
                            return std::vector<ValueSpec>{{in_shape(g, n, 0), in_dtype(g, n, 0)}};
                          },
                          nullptr};
  row(t, Op::FabStep) = {"fab_step",
                         [](const Graph& g, const Node& n) {
                           expect_inputs(g, n, 4, 4);
                           expect_batch_inputs(g, n, 3, {3});
                           const FabStepAttrs& a = std::get<FabStepAttrs>(n.attrs);
                           ADVMOE_CHECK(a.eta >= 1 && a.alpha_max >= 0 && a.alpha_max <= 1,
                                        "fab_step '" << n.name << "': needs eta >= 1 and alpha_max "
                                                     << "in [0, 1], got " << a.eta << " and "
                                                     << a.alpha_max);
                           return std::vector<ValueSpec>{{in_shape(g, n, 0), in_dtype(g, n, 0)}};
                         },
                         nullptr};
  row(t, Op::PgdStart) = {"pgd_start",
                          [](const Graph& g, const Node& n) {
                            expect_inputs(g, n, 2, 2);
                            expect_dtype(g, n, 1, DType::I32);
                            ADVMOE_CHECK(in_shape(g, n, 1) == Shape{2},
                                         "pgd_start '" << n.name << "': key must be i32 [2], got "
                                                       << in_shape(g, n, 1));
                            ADVMOE_CHECK(in_shape(g, n, 0).rank() >= 1,
                                         "pgd_start '" << n.name << "': needs a batch axis");
                            return std::vector<ValueSpec>{{in_shape(g, n, 0), in_dtype(g, n, 0)}};
                          },
                          nullptr};
  row(t, Op::PgdStep) = {"pgd_step",
                         [](const Graph& g, const Node& n) {
                           expect_inputs(g, n, 3, 3);
                           expect_same_shape(g, n, 0, 1);
                           expect_same_shape(g, n, 0, 2);
                           const PgdStepAttrs& a = std::get<PgdStepAttrs>(n.attrs);
                           ADVMOE_CHECK(a.epsilon >= 0 && a.step_size > 0,
                                        "pgd_step '" << n.name << "': needs epsilon >= 0 and a "
                                                     << "positive step, got " << a.epsilon
                                                     << " and " << a.step_size);
                           ADVMOE_CHECK(in_shape(g, n, 0).rank() >= 1,
                                        "pgd_step '" << n.name << "': needs a batch axis");
                           return std::vector<ValueSpec>{{in_shape(g, n, 0), in_dtype(g, n, 0)}};
                         },
                         nullptr};
}

}  // namespace advmoe
