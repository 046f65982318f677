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

void register_attack_ops(OpTable& t) {
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
