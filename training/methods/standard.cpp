// Standard training: minimize the clean cross-entropy.
#include "ops/basic.h"
#include "ops/losses.h"
#include "ops/moe.h"
#include "training/evaluate.h"
#include "training/methods/methods.h"

namespace advmoe {

std::vector<ValueId> scored_values(Model& model) {
  std::vector<ValueId> values{model.logits.id};
  for (const std::string& route : mark_route_outputs(model))
    values.push_back(model.graph->find(route));
  return values;
}

std::vector<ValueId> trained_params(const Graph& g, const MethodConfig& config) {
  if (config.train_groups.empty()) return g.params();
  std::vector<ValueId> out;
  for (const std::string& group : config.train_groups) {
    std::vector<ValueId> params = g.params(group);
    ADVMOE_CHECK(!params.empty(),
                 "the model has no parameters of group '" << group << "' to train");
  }
  for (ValueId p : g.params())
    for (const std::string& group : config.train_groups)
      if (g.value(p).group == group) out.push_back(p);
  return out;
}

StandardTraining::StandardTraining(Model& model, Variables& variables, const MethodConfig& config)
    : variables_(variables) {
  Graph& g = *model.graph;
  Val loss = softmax_cross_entropy(model.logits, model.labels, "cross_entropy");
  if (config.balance_loss > 0)
    for (const Model::Router& r : model.routers)
      loss =
          loss + scale(balance_loss(r.logits, r.index, r.name + ".balance"), config.balance_loss);
  g.mark_loss(loss.id, "loss");
  level_.emplace(g, variables, "all", loss.id, trained_params(g, config), scored_values(model),
                 config.sgd);
}

double StandardTraining::iterate(const std::vector<HostBatch>& batches, uint64_t /*key*/, double lr,
                                 const std::function<void(double)>& /*check*/) {
  load_batch(variables_, batches.at(0).images, batches.at(0).labels);
  return level_->step(lr);
}

}  // namespace advmoe
