// Clean evaluation of a classifier: accuracy and mean cross-entropy over a whole dataset, using
// an eval-mode Plan that computes "logits" from "images". The last partial batch is padded and
// only its real rows are counted.
#pragma once

#include "datasets/dataset.h"
#include "graph/plan.h"

namespace advmoe {

struct EvalResult {
  double accuracy = 0;
  double loss = 0;
  int64_t examples = 0;
};

EvalResult evaluate_classifier(Plan& eval_plan, Variables& variables, const Dataset& data);

// Counts correct argmax predictions and sums -log softmax[label] over the first `rows` rows.
void score_logits(const Tensor& logits, const Tensor& labels, int64_t rows, int64_t* correct,
                  double* loss_sum);

}  // namespace advmoe
