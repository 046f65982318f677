// RT-ER (Zhang et al., ICML 2025): adversarial training of an MoE whose loss also robustifies
// each sample's second-choice expert:
//   CE(MoE(x'), y) + beta * (1/B) * sum_e KL(p_e(x) || p_e(x'_e)),
// x' a PGD example against the whole MoE, and for the samples whose second-ranked routing choice
// is e, x'_e a PGD example against pathway e alone (CE on the label). Pathway e is the network
// with every MoE layer computing expert e (models/registry.h apply_pathway). Since attacks run in
// eval mode, where samples are independent, the per-expert batches are one batch whose route
// input gives each sample its own second choice: one pathway attack serves all experts.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/registry.h"
#include "ops/basic.h"
#include "ops/losses.h"
#include "training/methods/methods.h"

namespace advmoe {

std::vector<int32_t> second_choices(const std::vector<const float*>& router_logits, int64_t rows,
                                    int64_t experts) {
  ADVMOE_CHECK(experts >= 2, "a second routing choice needs at least 2 experts, got " << experts);
  ADVMOE_CHECK(!router_logits.empty(), "no router logits to rank");
  std::vector<int32_t> out(static_cast<size_t>(rows));
  std::vector<double> mean(static_cast<size_t>(experts));
  std::vector<int32_t> order(static_cast<size_t>(experts));
  for (int64_t s = 0; s < rows; ++s) {
    std::fill(mean.begin(), mean.end(), 0.0);
    for (const float* z : router_logits) {
      const float* row = z + s * experts;
      const double top = *std::max_element(row, row + experts);
      double total = 0;
      for (int64_t e = 0; e < experts; ++e) total += std::exp(row[e] - top);
      for (int64_t e = 0; e < experts; ++e)
        mean[static_cast<size_t>(e)] += std::exp(row[e] - top) / total / router_logits.size();
    }
    std::iota(order.begin(), order.end(), 0);
    // Highest mean probability first; ties to the lower index, as top-1 routing breaks them.
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return mean[static_cast<size_t>(a)] > mean[static_cast<size_t>(b)];
    });
    out[static_cast<size_t>(s)] = order[1];
  }
  return out;
}

RtErTraining::RtErTraining(Model& model, Variables& variables, const MethodConfig& config)
    : model_(model), variables_(variables) {
  ADVMOE_CHECK(model.config.variant == "moe" && model.config.experts >= 2 &&
                   model.config.routing != "fixed" && !model.routers.empty(),
               "rt-er robustifies each sample's second-choice expert: it needs an MoE with "
               "routers and at least 2 experts (got variant "
                   << model.config.variant << ", " << model.config.experts << " experts, routing "
                   << model.config.routing << ")");
  Graph& g = *model.graph;
  const int64_t b = model.images.shape()[0];
  AdversarialBranch branch = add_adversarial_branch(model);
  Val route{&g, g.input("rt_er.second_choice", Shape{b}, DType::I32)};
  Val pathway_adv{&g, g.input("rt_er.pathway_adv_images", model.images.shape())};
  Val clean_pathway = apply_pathway(model, model.images, route).logits;
  Val adv_pathway = apply_pathway(model, pathway_adv, route).logits;
  Val ce_adversarial = softmax_cross_entropy(branch.adv_logits, model.labels, "ce_adversarial");
  // kl_div's batchmean is the (1/B) of the loss: every sample contributes its one expert's term.
  Val kl = kl_div(log_softmax(clean_pathway), log_softmax(adv_pathway), "rt_er.kl_pathway");
  Val loss = with_balance_loss(ce_adversarial + scale(kl, config.beta), model, branch, config);
  g.mark_loss(loss.id, "loss");
  g.mark_loss(kl.id, "rt_er.kl");
  g.mark_loss(ce_adversarial.id, "rt_er.ce_adversarial");  // the first attack's objective
  Val pathway_ce = softmax_cross_entropy(adv_pathway, model.labels, "rt_er.ce_pathway");
  g.mark_loss(pathway_ce.id, "rt_er.pathway_objective");
  // The routers' logits on the clean batch, in eval mode like the attacks. Copies are marked as
  // outputs, not the logits themselves: Plans compiled earlier (the Trainer's eval Plan) hold
  // them as intermediates.
  CompileOptions ranking{Mode::Eval, {}, {}};
  for (size_t i = 0; i < model.routers.size(); ++i) {
    const std::string name = "rt_er.router_logits/" + std::to_string(i);
    Val copy = stop_gradient(model.routers[i].logits, name);
    g.mark_output(copy.id, name);
    ranking.targets.push_back(copy.id);
    router_logits_.push_back(name);
  }
  rank_plan_ = compile(g, variables, ranking);
  attack_ = std::make_unique<PgdAttack>(g, variables, ce_adversarial.id, branch.adv_images.id,
                                        training_attack(config, PgdStart::Uniform));
  pathway_attack_ = std::make_unique<PgdAttack>(g, variables, pathway_ce.id, pathway_adv.id,
                                                training_attack(config, PgdStart::Uniform));
  level_.emplace(g, variables, "all", loss.id, trained_params(g, config), scored_values(model),
                 config.sgd);
  host_route_ = Tensor::zeros(Shape{b}, DType::I32);
  if (variables.backend().device().kind != DeviceKind::CPU)
    for (const Model::Router& r : model.routers)
      host_logits_.push_back(Tensor::zeros(r.logits.shape(), DType::F32));
}

void RtErTraining::set_second_choices() {
  rank_plan_->run();
  Backend& backend = variables_.backend();
  // On the CPU backends the variables are host memory; elsewhere through staging made once.
  std::vector<const float*> logits;
  for (size_t i = 0; i < router_logits_.size(); ++i) {
    const Tensor& z = variables_.get(router_logits_[i]);
    if (host_logits_.empty()) {
      logits.push_back(z.data<float>());
    } else {
      backend.copy(host_logits_[i], z);
      logits.push_back(host_logits_[i].data<float>());
    }
  }
  backend.synchronize();
  const int64_t b = host_route_.shape()[0];
  std::vector<int32_t> second = second_choices(logits, b, model_.config.experts);
  std::copy(second.begin(), second.end(), host_route_.data<int32_t>());
  backend.copy(variables_.get("rt_er.second_choice"), host_route_);
}

double RtErTraining::iterate(const std::vector<HostBatch>& batches, uint64_t key, double lr,
                             const std::function<void(double)>& /*check*/) {
  load_batch(variables_, batches.at(0).images, batches.at(0).labels);
  set_second_choices();
  attack_->run(variables_.get("images"), variables_.get("adv_images"), key);
  pathway_attack_->run(variables_.get("images"), variables_.get("rt_er.pathway_adv_images"), key);
  return level_->step(lr);
}

}  // namespace advmoe
