// Shape and gradient rules of concat_channels and channel_slice.
#include "ops/concat.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Val concat_channels(const std::vector<Val>& parts, const std::string& name) {
  ADVMOE_CHECK(!parts.empty(), "concat_channels '" << name << "': needs at least one input");
  return emit1(*parts[0].graph, Op::Concat, name, parts);
}

Val channel_slice(Val x, int64_t offset, int64_t count, const std::string& name) {
  return emit1(*x.graph, Op::ChannelSlice, name, {x}, SliceAttrs{offset, count});
}

Val channel_affine(Val x, std::vector<double> scale, std::vector<double> shift,
                   const std::string& name) {
  return emit1(*x.graph, Op::ChannelAffine, name, {x},
               AffineAttrs{std::move(scale), std::move(shift)});
}

void register_concat_ops(OpTable& t) {
  row(t, Op::ChannelAffine) = {
      "channel_affine",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 1, 1);
        const AffineAttrs& a = std::get<AffineAttrs>(n.attrs);
        const Shape& x = in_shape(g, n, 0);
        ADVMOE_CHECK(x.rank() >= 1 && a.scale.size() == static_cast<size_t>(x[-1]) &&
                         a.shift.size() == a.scale.size(),
                     "channel_affine '" << n.name << "': " << a.scale.size() << " scales and "
                                        << a.shift.size() << " shifts for input " << x);
        return std::vector<ValueSpec>{{x, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        const AffineAttrs& a = std::get<AffineAttrs>(r.node.attrs);
        return std::vector<ValueId>{channel_affine(r.dout(0), a.scale,
                                                   std::vector<double>(a.scale.size(), 0.0),
                                                   r.backward_name("backward"))
                                        .id};
      }};
  row(t, Op::Concat) = {
      "concat_channels",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 1, 64);
        std::vector<int64_t> dims = in_shape(g, n, 0).dims();
        ADVMOE_CHECK(!dims.empty(), "concat_channels '" << n.name << "': inputs need rank >= 1");
        int64_t channels = 0;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          const Shape& s = in_shape(g, n, static_cast<int>(i));
          bool same_lead = s.rank() == static_cast<int>(dims.size());
          for (int k = 0; same_lead && k + 1 < s.rank(); ++k)
            same_lead = s[k] == dims[static_cast<size_t>(k)];
          ADVMOE_CHECK(same_lead, "concat_channels '" << n.name << "': input " << i << " has shape "
                                                      << s << ", incompatible with "
                                                      << in_shape(g, n, 0));
          expect_dtype(g, n, static_cast<int>(i), in_dtype(g, n, 0));
          channels += s[-1];
        }
        dims.back() = channels;
        return std::vector<ValueSpec>{{Shape(dims), in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        std::vector<ValueId> grads(r.node.inputs.size(), kNoValue);
        int64_t offset = 0;
        for (size_t i = 0; i < grads.size(); ++i) {
          int64_t c = r.in(static_cast<int>(i)).shape()[-1];
          if (r.needs(static_cast<int>(i)))
            grads[i] = channel_slice(r.dout(0), offset, c,
                                     r.backward_name(("slice" + std::to_string(i)).c_str()))
                           .id;
          offset += c;
        }
        return grads;
      }};
  row(t, Op::ChannelSlice) = {
      "channel_slice",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 1, 1);
        const SliceAttrs& a = std::get<SliceAttrs>(n.attrs);
        std::vector<int64_t> dims = in_shape(g, n, 0).dims();
        ADVMOE_CHECK(
            !dims.empty() && a.offset >= 0 && a.count >= 1 && a.offset + a.count <= dims.back(),
            "channel_slice '" << n.name << "': channels [" << a.offset << ", " << a.offset + a.count
                              << ") outside input " << in_shape(g, n, 0));
        dims.back() = a.count;
        return std::vector<ValueSpec>{{Shape(dims), in_dtype(g, n, 0)}};
      },
      nullptr};
}

}  // namespace advmoe
