// Shape and gradient rules of topk_mask.
#include "ops/sparse.h"

#include <algorithm>
#include <cmath>

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

TopkMask topk_mask(Val scores, double keep, bool structured, const std::string& name) {
  std::vector<Val> out =
      emit(*scores.graph, Op::TopkMask, name, {scores}, TopkMaskAttrs{keep, structured});
  return {out[0], out[1]};
}

int64_t kept_items(double keep, int64_t n) {
  return std::clamp<int64_t>(std::llround(keep * static_cast<double>(n)), 1, n);
}

void register_sparse_ops(OpTable& t) {
  row(t, Op::TopkMask) = {
      "topk_mask",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 1, 1);
        const Shape& s = in_shape(g, n, 0);
        double keep = std::get<TopkMaskAttrs>(n.attrs).keep;
        ADVMOE_CHECK(s.rank() >= 1 && s.numel() > 0,
                     "topk_mask '" << n.name << "': scores must be a non-empty tensor, got " << s);
        ADVMOE_CHECK(keep > 0 && keep <= 1, "topk_mask '" << n.name << "': keep must be in (0, 1], "
                                                          << "got " << keep);
        return std::vector<ValueSpec>{{s, in_dtype(g, n, 0)}, {Shape{s[0]}, in_dtype(g, n, 0)}};
      },
      // Straight-through: the mask's gradient is the scores' (HYDRA's GetSubnet backward).
      [](GradRequest& r) { return std::vector<ValueId>{r.output_grads[0]}; }};
}

}  // namespace advmoe
