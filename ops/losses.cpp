// Shape and gradient rules of the losses. Their backward nodes take the upstream scalar
// gradient as input 0, so a scaled loss (beta * KL) differentiates correctly.
#include "ops/losses.h"

#include "ops/builder.h"
#include "ops/op_defs.h"

namespace advmoe {

Val softmax_cross_entropy(Val logits, Val labels, const std::string& name) {
  return emit1(*logits.graph, Op::SoftmaxCrossEntropy, name, {logits, labels});
}
Val log_softmax(Val x, const std::string& name) {
  return emit1(*x.graph, Op::LogSoftmax, name, {x});
}
Val kl_div(Val log_p, Val log_q, const std::string& name) {
  return emit1(*log_p.graph, Op::KlDiv, name, {log_p, log_q});
}

Val sample_loss(Val logits, Val labels, Val targets, SampleLossAttrs attrs,
                const std::string& name) {
  return emit1(*logits.graph, Op::SampleLoss, name, {logits, labels, targets}, attrs);
}
Val sample_loss(Val logits, Val labels, SampleLossAttrs attrs, const std::string& name) {
  return emit1(*logits.graph, Op::SampleLoss, name, {logits, labels}, attrs);
}

namespace {

bool targeted(SampleLossAttrs::Kind kind) {
  return kind == SampleLossAttrs::DlrTargeted || kind == SampleLossAttrs::TargetMargin;
}

// Inputs logits [N, K], labels i32 [N] and, for the targeted kinds, targets i32 [N].
void check_sample_loss_inputs(const Graph& g, const Node& n, int first) {
  const SampleLossAttrs::Kind kind = std::get<SampleLossAttrs>(n.attrs).kind;
  const int count = targeted(kind) ? 3 : 2;
  expect_inputs(g, n, first + count, first + count);
  expect_rank(g, n, first, 2);
  const Shape rows{in_shape(g, n, first)[0]};
  const int64_t classes = in_shape(g, n, first)[1];
  for (int i = first + 1; i < first + count; ++i) {
    expect_dtype(g, n, i, DType::I32);
    ADVMOE_CHECK(in_shape(g, n, i) == rows, "sample_loss '" << n.name << "': labels and targets "
                                                            << "must be " << rows << ", got "
                                                            << in_shape(g, n, i));
  }
  // DLR divides by the gap between the first and third (targeted: third and fourth) logits.
  const int64_t needed = kind == SampleLossAttrs::Dlr           ? 3
                         : kind == SampleLossAttrs::DlrTargeted ? 4
                                                                : 2;
  ADVMOE_CHECK(classes >= needed,
               "sample_loss '" << n.name << "': "
                               << (kind == SampleLossAttrs::Dlr           ? "the DLR loss"
                                   : kind == SampleLossAttrs::DlrTargeted ? "the targeted DLR loss"
                                                                          : "a per-sample loss")
                               << " needs at least " << needed << " classes, the logits have "
                               << classes);
}

std::vector<ValueSpec> logits_like(const Graph& g, const Node& n, int input) {
  return {{in_shape(g, n, input), in_dtype(g, n, input)}};
}

}  // namespace

void register_loss_ops(OpTable& t) {
  row(t, Op::SoftmaxCrossEntropy) = {
      "softmax_cross_entropy",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 2);
        expect_rank(g, n, 0, 2);
        expect_dtype(g, n, 1, DType::I32);
        ADVMOE_CHECK(in_shape(g, n, 1) == Shape{in_shape(g, n, 0)[0]},
                     "softmax_cross_entropy '" << n.name << "': labels must be ["
                                               << in_shape(g, n, 0)[0] << "], got "
                                               << in_shape(g, n, 1));
        return std::vector<ValueSpec>{{Shape{}, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        Val dx = emit1(r.graph, Op::SoftmaxCrossEntropyBackward, r.backward_name("backward"),
                       {r.dout(0), r.in(0), r.in(1)});
        return std::vector<ValueId>{dx.id, kNoValue};
      }};
  row(t, Op::SoftmaxCrossEntropyBackward) = {"softmax_cross_entropy_backward",
                                             [](const Graph& g, const Node& n) {
                                               expect_inputs(g, n, 3, 3);
                                               return logits_like(g, n, 1);
                                             },
                                             nullptr};
  row(t, Op::SampleLoss) = {
      "sample_loss",
      [](const Graph& g, const Node& n) {
        check_sample_loss_inputs(g, n, 0);
        return std::vector<ValueSpec>{{Shape{in_shape(g, n, 0)[0]}, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        std::vector<Val> inputs{r.dout(0)};
        const size_t count = r.node.inputs.size();
        for (size_t i = 0; i < count; ++i) inputs.push_back(r.in(static_cast<int>(i)));
        Val dz = emit1(r.graph, Op::SampleLossBackward, r.backward_name("backward"), inputs,
                       r.node.attrs);
        std::vector<ValueId> grads(count, kNoValue);
        grads[0] = dz.id;
        return grads;
      }};
  row(t, Op::SampleLossBackward) = {"sample_loss_backward",
                                    [](const Graph& g, const Node& n) {
                                      check_sample_loss_inputs(g, n, 1);
                                      ADVMOE_CHECK(in_shape(g, n, 0) == Shape{in_shape(g, n, 1)[0]},
                                                   "sample_loss_backward '"
                                                       << n.name << "': upstream gradient must be ["
                                                       << in_shape(g, n, 1)[0] << "]");
                                      return logits_like(g, n, 1);
                                    },
                                    nullptr};
  row(t, Op::LogSoftmax) = {"log_softmax",
                            [](const Graph& g, const Node& n) {
                              expect_inputs(g, n, 1, 1);
                              expect_rank(g, n, 0, 2);
                              return logits_like(g, n, 0);
                            },
                            [](GradRequest& r) {
                              Val dx = emit1(r.graph, Op::LogSoftmaxBackward,
                                             r.backward_name("backward"), {r.dout(0), r.out(0)});
                              return std::vector<ValueId>{dx.id};
                            }};
  row(t, Op::LogSoftmaxBackward) = {"log_softmax_backward",
                                    [](const Graph& g, const Node& n) {
                                      expect_inputs(g, n, 2, 2);
                                      expect_same_shape(g, n, 0, 1);
                                      return logits_like(g, n, 0);
                                    },
                                    nullptr};
  row(t, Op::KlDiv) = {
      "kl_div",
      [](const Graph& g, const Node& n) {
        expect_inputs(g, n, 2, 2);
        expect_rank(g, n, 0, 2);
        expect_same_shape(g, n, 0, 1);
        return std::vector<ValueSpec>{{Shape{}, in_dtype(g, n, 0)}};
      },
      [](GradRequest& r) {
        std::vector<ValueId> grads(2, kNoValue);
        for (int wrt = 0; wrt < 2; ++wrt)
          if (r.needs(wrt))
            grads[static_cast<size_t>(wrt)] =
                emit1(r.graph, Op::KlDivBackward,
                      r.backward_name(wrt == 0 ? "backward_log_p" : "backward_log_q"),
                      {r.dout(0), r.in(0), r.in(1)}, KlBackwardAttrs{wrt})
                    .id;
        return grads;
      }};
  row(t, Op::KlDivBackward) = {"kl_div_backward",
                               [](const Graph& g, const Node& n) {
                                 expect_inputs(g, n, 3, 3);
                                 return logits_like(g, n, 1);
                               },
                               nullptr};
}

}  // namespace advmoe
