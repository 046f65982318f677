// Routes and predictions under attack, and the partial (pathway-only, router-only) attacks.
#include "training/route_study.h"

#include <memory>

#include "datasets/batcher.h"
#include "models/registry.h"
#include "training/attacks/attack_model.h"
#include "training/attacks/eval_attack.h"
#include "training/evaluate.h"
#include "training/pgd_report.h"

namespace advmoe {

namespace {

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  return order;
}

EvalAttackKind kind_of(const std::string& name) {
  if (name == "apgd-ce") return EvalAttackKind::ApgdCe;
  if (name == "apgd-dlr") return EvalAttackKind::ApgdDlr;
  if (name == "apgd-t") return EvalAttackKind::ApgdT;
  if (name == "fab-t") return EvalAttackKind::FabT;
  return EvalAttackKind::Square;
}

}  // namespace

bool is_study_attack(const std::string& name) {
  for (const char* a : {"pgd", "fgsm", "apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square"})
    if (name == a) return true;
  return false;
}

std::string describe(const StudyAttack& a) {
  if (a.name == "pgd" || a.name == "fgsm") return describe(a.pgd);
  return a.name + " (AutoAttack's, eps " + std::to_string(a.budget.epsilon) + ")";
}

std::vector<SampleRoutes> study_routes(Model& model, Variables& variables, const Dataset& test,
                                       const StudyAttack& attack) {
  ADVMOE_CHECK(is_study_attack(attack.name), "unknown attack '" << attack.name << "'");
  AttackModel am(model, variables);
  ADVMOE_CHECK(am.is_moe(), "the model has no MoE layers: there are no routes to study");
  std::unique_ptr<PgdAttack> pgd;
  std::unique_ptr<EvalAttack> other;
  if (attack.name == "pgd" || attack.name == "fgsm")
    pgd = std::make_unique<PgdAttack>(model, variables, attack.pgd);
  else
    other = make_eval_attack(am, kind_of(attack.name), attack.budget, RouterGradient::None);
  const int64_t b = am.batch(), k = am.classes();
  Tensor images = Tensor::zeros(model.images.shape(), DType::F32);
  Tensor labels = Tensor::zeros(Shape{b}, DType::I32);
  Tensor adversarial = Tensor::zeros(model.images.shape(), DType::F32);
  std::vector<SampleRoutes> out;
  BatchLoader loader(test, all_rows(test.size()), b, false, Augmentation{}, 0, 0);
  uint64_t batch_index = 0;
  while (int64_t rows = loader.next(images, labels)) {
    am.set_images(images);
    am.set_labels(labels);
    const float* z = am.forward().data<float>();
    std::vector<std::vector<int32_t>> clean_routes = am.last_routes();
    const size_t first = out.size();
    for (int64_t s = 0; s < rows; ++s) {
      SampleRoutes r;
      r.label = labels.data<int32_t>()[s];
      r.clean_prediction = predicted_class(z + s * k, k);
      for (const auto& layer : clean_routes)
        r.clean_routes.push_back(layer[static_cast<size_t>(s)]);
      out.push_back(r);
    }
    if (pgd) {
      pgd->run(images, labels, adversarial, batch_index);
    } else {
      AttackBatch batch{images, labels, rows, batch_index};
      AttackOutcome outcome;
      other->run(batch, outcome);
      adversarial = outcome.adversarial;
    }
    am.set_images(adversarial);
    z = am.forward().data<float>();
    std::vector<std::vector<int32_t>> adv_routes = am.last_routes();
    for (int64_t s = 0; s < rows; ++s) {
      SampleRoutes& r = out[first + static_cast<size_t>(s)];
      r.adversarial_prediction = predicted_class(z + s * k, k);
      for (const auto& layer : adv_routes)
        r.adversarial_routes.push_back(layer[static_cast<size_t>(s)]);
    }
    ++batch_index;
  }
  return out;
}

double partial_attack_accuracy(const ModelConfig& config, Variables& weights, const Dataset& test,
                               const std::vector<SampleRoutes>& clean, PgdConfig pgd,
                               const std::string& part) {
  ADVMOE_CHECK(part == "pathway" || part == "router",
               "the partial attack moves the pathway or the router, not '" << part << "'");
  ADVMOE_CHECK(
      static_cast<int64_t>(clean.size()) == test.size(),
      "partial attack: " << clean.size() << " clean records for " << test.size() << " test points");
  ModelConfig c = config;
  c.route_source = part == "pathway" ? "input" : "router-images";
  c.detach_router_input = part != "router";
  Model m = build_model(c);
  Variables v(weights.backend());
  copy_parameters_and_buffers(m, weights, v);
  const int64_t b = m.images.shape()[0], k = c.classes;
  std::vector<Tensor> routes;  // host, per MoE layer
  for (const auto& [module, value] : m.routes) {
    routes.push_back(Tensor::zeros(Shape{b}, DType::I32));
    if (part == "pathway") v.set("route/" + module, routes.back());
  }
  if (part == "router") {
    v.set("clean_images", Tensor::zeros(m.images.shape(), DType::F32));
    pgd.router_gradient = RouterGradient::StraightThrough;
  }
  PgdAttack attack(m, v, pgd);
  CompileOptions options{Mode::Eval, {m.logits.id}};
  auto plan = compile(*m.graph, v, options);
  Tensor images = Tensor::zeros(m.images.shape(), DType::F32);
  Tensor labels = Tensor::zeros(Shape{b}, DType::I32);
  Tensor adversarial = Tensor::zeros(m.images.shape(), DType::F32);
  Tensor logits = Tensor::zeros(m.logits.shape(), DType::F32);
  BatchLoader loader(test, all_rows(test.size()), b, false, Augmentation{}, 0, 0);
  int64_t offset = 0, correct = 0;
  uint64_t batch_index = 0;
  while (int64_t rows = loader.next(images, labels)) {
    if (part == "pathway") {
      for (size_t l = 0; l < routes.size(); ++l) {
        for (int64_t s = 0; s < b; ++s)  // padding rows keep route 0
          routes[l].data<int32_t>()[s] =
              s < rows ? clean[static_cast<size_t>(offset + s)].clean_routes[l] : 0;
        v.backend().copy(v.get("route/" + m.routes[l].first), routes[l]);
      }
    } else {
      set_clean_companion(v, images);
    }
    attack.run(images, labels, adversarial, batch_index++);
    v.backend().copy(v.get("images"), adversarial);
    plan->run();
    v.backend().copy(logits, v.get("logits"));
    v.backend().synchronize();
    for (int64_t s = 0; s < rows; ++s)
      correct += predicted_class(logits.data<float>() + s * k, k) == labels.data<int32_t>()[s];
    offset += rows;
  }
  return test.size() ? static_cast<double>(correct) / static_cast<double>(test.size()) : 0;
}

}  // namespace advmoe
