// Batched clean evaluation.
#include "training/evaluate.h"

#include <cmath>
#include <numeric>

#include "datasets/batcher.h"
#include "models/model.h"
#include "runtime/communicator.h"
#include "training/pgd.h"

namespace advmoe {

double sample_cross_entropy(const float* row, int64_t classes, int32_t label, bool* correct) {
  int64_t best = 0;
  for (int64_t j = 1; j < classes; ++j)
    if (row[j] > row[best]) best = j;
  double m = row[best], s = 0;
  for (int64_t j = 0; j < classes; ++j) s += std::exp(row[j] - m);
  *correct = best == label;
  return m + std::log(s) - row[label];
}

void score_logits(const Tensor& logits, const Tensor& labels, int64_t rows, int64_t* correct,
                  double* loss_sum) {
  int64_t k = logits.shape()[1];
  const float* z = logits.data<float>();
  const int32_t* y = labels.data<int32_t>();
  for (int64_t i = 0; i < rows; ++i) {
    bool right = false;
    *loss_sum += sample_cross_entropy(z + i * k, k, y[i], &right);
    *correct += right;
  }
}

std::vector<std::string> mark_route_outputs(Model& model) {
  Graph& g = *model.graph;
  std::vector<std::string> names;
  for (const auto& [layer, route] : model.routes) {
    if (g.value(route.id).role == Role::Intermediate) g.mark_output(route.id, "route/" + layer);
    names.push_back(g.value(route.id).name);
  }
  return names;
}

std::vector<LayerUsage> empty_usage(const Model& model) {
  std::vector<LayerUsage> usage;
  for (const auto& entry : model.routes)
    usage.push_back({entry.first, std::vector<int64_t>(static_cast<size_t>(model.config.experts))});
  return usage;
}

void count_route(Variables& variables, const std::string& route, int64_t rows,
                 const Tensor& staging, std::vector<int64_t>& counts) {
  variables.backend().copy(staging, variables.get(route));
  const int32_t* index = staging.data<int32_t>();
  for (int64_t k = 0; k < rows; ++k) ++counts[static_cast<size_t>(index[k])];
}

void count_routes(Variables& variables, const std::vector<std::string>& route_outputs, int64_t rows,
                  const Tensor& staging, std::vector<LayerUsage>& usage) {
  for (size_t i = 0; i < usage.size(); ++i)
    count_route(variables, route_outputs[i], rows, staging, usage[i].counts);
}

void set_clean_companion(Variables& variables, const Tensor& host_clean) {
  if (variables.has("clean_images"))
    variables.backend().copy(variables.get("clean_images"), host_clean);
}

EvalResult evaluate_classifier(Plan& plan, Variables& variables, const Dataset& data,
                               PgdAttack* attack, std::vector<LayerUsage>* usage,
                               const std::vector<std::string>& route_outputs) {
  const Tensor& images = variables.get("images");
  const Tensor& logits = variables.get("logits");
  Backend& backend = variables.backend();
  bool on_host = backend.device().kind == DeviceKind::CPU;
  // Batches go straight into the plan's inputs on the host; through staging tensors otherwise.
  Tensor host_images = on_host ? images : Tensor::zeros(images.shape(), DType::F32);
  // Labels only score the logits here; an eval plan needs no "labels" input.
  Tensor host_labels = Tensor::zeros(Shape{images.shape()[0]}, DType::I32);
  Tensor host_logits = on_host ? logits : Tensor::zeros(logits.shape(), DType::F32);
  // The attack reads clean images from its own buffer and writes into the plan's input.
  Tensor clean = attack ? Tensor::zeros(images.shape(), DType::F32) : host_images;
  Tensor adversarial = attack ? Tensor::zeros(images.shape(), DType::F32) : Tensor();
  Tensor host_route = Tensor::zeros(Shape{images.shape()[0]}, DType::I32);
  if (usage)
    for (LayerUsage& u : *usage) std::fill(u.counts.begin(), u.counts.end(), 0);
  uint64_t batch_index = 0;
  std::vector<int64_t> order(static_cast<size_t>(data.size()));
  std::iota(order.begin(), order.end(), 0);
  // Data-parallel: each rank scores its rows of every global batch; the counts are summed below.
  BatchLoader loader(data, order, images.shape()[0], /*drop_last=*/false, Augmentation{}, 0, 0,
                     Shard{world().rank(), world().size()});

  EvalResult result;
  int64_t correct = 0;
  double loss_sum = 0;
  while (int64_t rows = loader.next(clean, host_labels)) {
    set_clean_companion(variables, clean);
    if (attack) {
      attack->run(clean, host_labels, adversarial, batch_index++);
      backend.copy(images, adversarial);
    } else if (!on_host) {
      backend.copy(images, host_images);
    }
    plan.run();
    if (usage) count_routes(variables, route_outputs, rows, host_route, *usage);
    if (!on_host) backend.copy(host_logits, logits);
    score_logits(host_logits, host_labels, rows, &correct, &loss_sum);
    result.examples += rows;
  }
  double sums[3] = {static_cast<double>(correct), loss_sum, static_cast<double>(result.examples)};
  world().allreduce_sum(sums, 3);
  correct = static_cast<int64_t>(sums[0]);
  loss_sum = sums[1];
  result.examples = static_cast<int64_t>(sums[2]);
  if (usage)
    for (LayerUsage& u : *usage)
      world().allreduce_sum(u.counts.data(), static_cast<int64_t>(u.counts.size()));
  result.accuracy = result.examples ? static_cast<double>(correct) / result.examples : 0;
  result.loss = result.examples ? loss_sum / result.examples : 0;
  return result;
}

}  // namespace advmoe
