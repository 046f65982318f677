// Clean evaluation of a classifier: accuracy and mean cross-entropy over a whole dataset, using
// an eval-mode Plan that computes "logits" from "images". The last partial batch is padded and
// only its real rows are counted.
#pragma once

#include <string>
#include <vector>
#include "datasets/dataset.h"

#include "compile/plan.h"

namespace advmoe {

struct EvalResult {
  double accuracy = 0;
  double loss = 0;
  int64_t examples = 0;
};

// How many samples each MoE layer sent to each expert.
struct LayerUsage {
  std::string layer;
  std::vector<int64_t> counts;  // per expert
};

// Adds the experts chosen for the first `rows` samples by each route output (names in
// `route_outputs`, one per entry of `usage`), copying each through the host tensor `staging`.
// Adds one route output's expert counts over its first `rows` samples to `counts` (staged on the
// host through `staging`, i32 [batch]).
void count_route(Variables& variables, const std::string& route, int64_t rows,
                 const Tensor& staging, std::vector<int64_t>& counts);
void count_routes(Variables& variables, const std::vector<std::string>& route_outputs, int64_t rows,
                  const Tensor& staging, std::vector<LayerUsage>& usage);

struct Model;

// MoE: marks each MoE layer's route (expert index per sample) as an output of the model's graph,
// once, and returns the output names in model.routes' order; empty for other models.
std::vector<std::string> mark_route_outputs(Model& model);
// Zeroed counts, one entry per MoE layer of `model`.
std::vector<LayerUsage> empty_usage(const Model& model);

class PgdAttack;

// Models whose route source splits routers and experts (models/model.h) read the batch's clean
// images from the Input "clean_images" too: copies `host_clean` there when the variables hold it.
void set_clean_companion(Variables& variables, const Tensor& host_clean);

// With `attack`, every batch is first replaced by its adversarial version (robust accuracy).
// With `usage`, the route outputs named in `route_outputs` (one per entry of *usage) are counted.
EvalResult evaluate_classifier(Plan& eval_plan, Variables& variables, const Dataset& data,
                               PgdAttack* attack = nullptr,
                               std::vector<LayerUsage>* usage = nullptr,
                               const std::vector<std::string>& route_outputs = {});

// -log softmax(row)[label] over `classes` logits; *correct: the first maximum is the label.
double sample_cross_entropy(const float* row, int64_t classes, int32_t label, bool* correct);

// Counts correct argmax predictions and sums -log softmax[label] over the first `rows` rows.
void score_logits(const Tensor& logits, const Tensor& labels, int64_t rows, int64_t* correct,
                  double* loss_sum);

}  // namespace advmoe
