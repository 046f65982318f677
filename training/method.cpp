// Method names and the factory.
#include "training/method.h"

#include "training/methods/methods.h"

namespace advmoe {

Method parse_method(const std::string& text) {
  if (text == "standard") return Method::Standard;
  if (text == "pgd-at") return Method::PgdAt;
  if (text == "trades") return Method::Trades;
  if (text == "advmoe") return Method::AdvMoe;
  if (text == "rt-er") return Method::RtEr;
  if (text == "jtdmoe") return Method::Jtdmoe;
  throw Error("unknown training method '" + text +
              "' (available: standard, pgd-at, trades, advmoe, rt-er, jtdmoe)");
}

AdvMoePreset parse_advmoe_preset(const std::string& text) {
  if (text == "paper") return AdvMoePreset::Paper;
  if (text == "reference-code") return AdvMoePreset::ReferenceCode;
  throw Error("unknown preset '" + text + "' (available: paper, reference-code)");
}

const char* method_name(Method method) {
  switch (method) {
    case Method::Standard:
      return "standard";
    case Method::PgdAt:
      return "pgd-at";
    case Method::Trades:
      return "trades";
    case Method::AdvMoe:
      return "advmoe";
    case Method::RtEr:
      return "rt-er";
    case Method::Jtdmoe:
      return "jtdmoe";
  }
  return "?";
}

std::unique_ptr<TrainingMethod> make_training_method(Model& model, Variables& variables,
                                                     const MethodConfig& c) {
  ADVMOE_CHECK(!model.dual || c.method == Method::Jtdmoe,
               "a dual model is trained by jtdmoe, not " << method_name(c.method));
  if (c.method == Method::Standard) return std::make_unique<StandardTraining>(model, variables, c);
  ADVMOE_CHECK(c.epsilon >= 0 && c.steps >= 1 && c.beta >= 0 && c.router_lr_scale > 0,
               "adversarial training needs epsilon >= 0, at least one attack step, beta >= 0 "
               "and a router learning rate > 0");
  if (c.method == Method::RtEr) return std::make_unique<RtErTraining>(model, variables, c);
  if (c.method == Method::Jtdmoe) return std::make_unique<JtdmoeTraining>(model, variables, c);
  if (c.method != Method::AdvMoe) return std::make_unique<AdversarialTraining>(model, variables, c);
  ADVMOE_CHECK(c.train_groups.empty(),
               "advmoe trains the router and backbone groups in turn; choosing the trained groups "
               "is for standard, pgd-at and trades");
  if (c.preset == AdvMoePreset::Paper)
    return std::make_unique<AdvMoePaperTraining>(model, variables, c);
  return std::make_unique<AdvMoeReferenceTraining>(model, variables, c);
}

}  // namespace advmoe
