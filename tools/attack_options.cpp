// Attack option parsing.
#include "tools/attack_options.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace advmoe {

double parse_fraction(const std::string& option, const std::string& text) {
  try {
    size_t used = 0, slash = text.find('/');
    if (slash == std::string::npos) {
      double value = std::stod(text, &used);
      if (used == text.size()) return value;
    } else {
      std::string top = text.substr(0, slash), bottom = text.substr(slash + 1);
      size_t used_bottom = 0;
      double a = std::stod(top, &used), b = std::stod(bottom, &used_bottom);
      if (used == top.size() && used_bottom == bottom.size() && b != 0) return a / b;
    }
  } catch (const std::exception&) {
  }
  throw UsageError{option + " must be a number or a fraction like 8/255, got '" + text + "'"};
}

const char* const kRouterGradHelp =
    "MoE attack gradient through the top-1 router: none (routes held fixed: the exact gradient "
    "of the model as it runs) | ste (the straight-through training surrogate, as the public "
    "AdvMoE code's attacks use it; with global routing it can mask the attack)";

double parse_fraction_in(const std::string& option, const std::string& text, double lo, double hi) {
  double v = parse_fraction(option, text);
  if (!(std::isfinite(v) && v >= lo && v <= hi)) {
    std::ostringstream os;
    os << option << " must be a finite number in [" << lo << ", " << hi << "], got '" << text
       << "'";
    throw UsageError{os.str()};
  }
  return v;
}

void add_attack_options(po::options_description& options, AttackOptions& a) {
  auto add = options.add_options();
  add("attack", po::value(&a.attack)->default_value(a.attack),
      "none | pgd | fgsm (one step of size eps from the clean image); eval also: aa (AutoAttack: "
      "APGD-CE -> APGD-T -> FAB-T -> Square) | aa-fast (APGD-CE + APGD-T, non-standard) | "
      "apgd-ce | apgd-dlr | apgd-t | fab-t | square");
  add("eps", po::value(&a.epsilon)->default_value(a.epsilon),
      "attack radius (a fraction like 8/255 is accepted)");
  add("step-size", po::value(&a.step_size)->default_value(a.step_size), "PGD step size");
  add("steps", po::value(&a.steps)->default_value(a.steps), "PGD steps");
  add("restarts", po::value(&a.restarts)->default_value(a.restarts),
      "PGD random restarts; each image keeps its worst case");
  add("norm", po::value(&a.norm)->default_value(a.norm), "linf | l2");
  add("attack-loss", po::value(&a.loss)->default_value(a.loss),
      "ce (cross-entropy to the label) | kl (KL divergence from the clean output)");
  add("start", po::value(&a.start)->default_value(a.start),
      "PGD start: uniform (in the ball) | trades (x + 0.001 N(0,1)) | none");
  add("router-grad", po::value(&a.router_grad)->default_value(a.router_grad), kRouterGradHelp);
}

PgdConfig pgd_config_of(const AttackOptions& a, uint64_t seed) {
  if (a.attack != "pgd" && a.attack != "fgsm" && a.attack != "none")
    throw UsageError{
        "--attack must be none, pgd or fgsm (eval also: aa, aa-fast, apgd-ce, "
        "apgd-dlr, apgd-t, fab-t, square), got '" +
        a.attack + "'"};
  PgdConfig c;
  try {
    c.norm = parse_pgd_norm(a.norm);
    c.objective = parse_pgd_objective(a.loss);
    c.start = parse_pgd_start(a.start);
  } catch (const Error& e) {
    throw UsageError{e.what()};
  }
  try {
    c.router_gradient = parse_router_gradient(a.router_grad);
  } catch (const Error& e) {
    throw UsageError{std::string("--router-grad: ") + e.what()};
  }
  // Inputs live in [0, 1]: an L-inf radius above 1 allows any image; an L2 radius is bounded
  // by the largest image's diagonal (224 x 224 x 3 pixels: sqrt(150528) < 400).
  c.epsilon = parse_fraction_in("--eps", a.epsilon, 0, c.norm == PgdNorm::Linf ? 1 : 400);
  if (a.steps < 1 || a.steps > 100000)
    throw UsageError{"--steps must be in [1, 100000], got " + std::to_string(a.steps)};
  if (a.restarts < 1 || a.restarts > 1000)
    throw UsageError{"--restarts must be in [1, 1000], got " + std::to_string(a.restarts)};
  c.seed = seed;
  c.restarts = a.restarts;
  if (a.attack == "fgsm") {
    c.steps = 1;
    c.step_size = c.epsilon;
    c.start = PgdStart::None;
    return c;
  }
  c.steps = a.steps;
  c.step_size = parse_fraction_in("--step-size", a.step_size, 0, 400);
  if (!(c.step_size > 0))
    throw UsageError{"--step-size must be positive, got '" + a.step_size + "'"};
  return c;
}

}  // namespace advmoe
