// Attack settings shared by `advmoe eval`, `train` and `bench`: numbers written as fractions
// ("8/255"), and the --attack/--eps/--steps/... family turned into a PgdConfig.
#pragma once

#include <string>

#include "tools/options.h"
#include "training/pgd.h"
#include "training/pgd_report.h"

namespace advmoe {

// "8/255" or "0.03" as a number; a UsageError names `option` otherwise.
double parse_fraction(const std::string& option, const std::string& text);

struct AttackOptions {
  std::string attack = "pgd";  // none | pgd | fgsm
  std::string epsilon = "8/255", step_size = "2/255";
  std::string norm = "linf", loss = "ce", start = "uniform", router_grad = "none";
  int steps = 50, restarts = 1;
};

// The --router-grad option's help text (train and eval share it).
extern const char* const kRouterGradHelp;

// A finite number in [lo, hi] parsed from `text` (fractions allowed); UsageError naming
// `option` and the range otherwise.
double parse_fraction_in(const std::string& option, const std::string& text, double lo, double hi);

// Adds --attack, --eps, --step-size, --steps, --restarts, --norm, --attack-loss, --start,
// --router-grad.
void add_attack_options(po::options_description& options, AttackOptions& a);

// The PgdConfig the options describe (fgsm: one step of size eps from x0); UsageError on bad
// values. Only meaningful when a.attack != "none".
PgdConfig pgd_config_of(const AttackOptions& a, uint64_t seed);

}  // namespace advmoe
