// Human- and machine-readable descriptions of a PGD configuration.
#include "training/pgd_report.h"

#include <cstdio>
#include <sstream>

namespace advmoe {

std::string describe(const PgdConfig& c) {
  char text[200];
  if (c.steps == 1 && c.start == PgdStart::None && c.step_size == c.epsilon &&
      c.norm == PgdNorm::Linf) {
    std::snprintf(text, sizeof text, "FGSM eps %.4g, %s loss", c.epsilon,
                  c.objective == PgdObjective::CrossEntropy ? "CE" : "KL-to-clean");
    return text;
  }
  std::snprintf(text, sizeof text, "PGD-%d %s eps %.4g step %.4g, %d restart%s, %s loss, %s start",
                c.steps, c.norm == PgdNorm::Linf ? "L-inf" : "L2", c.epsilon, c.step_size,
                c.restarts, c.restarts == 1 ? "" : "s",
                c.objective == PgdObjective::CrossEntropy ? "CE" : "KL-to-clean",
                c.start == PgdStart::Uniform  ? "uniform"
                : c.start == PgdStart::Trades ? "TRADES"
                                              : "clean");
  std::string out = text;
  if (c.router_gradient == RouterGradient::StraightThrough) out += ", STE router gradient";
  return out;
}

std::string attack_json(const PgdConfig& c) {
  std::ostringstream os;
  os.precision(17);
  bool is_fgsm = c.steps == 1 && c.start == PgdStart::None && c.step_size == c.epsilon &&
                 c.norm == PgdNorm::Linf;
  os << "{\"attack\": \"" << (is_fgsm ? "fgsm" : "pgd") << "\", \"norm\": \""
     << (c.norm == PgdNorm::Linf ? "linf" : "l2") << "\", \"epsilon\": " << c.epsilon
     << ", \"step_size\": " << c.step_size << ", \"steps\": " << c.steps
     << ", \"restarts\": " << c.restarts << ", \"start\": \""
     << (c.start == PgdStart::Uniform  ? "uniform"
         : c.start == PgdStart::Trades ? "trades"
                                       : "none")
     << "\", \"loss\": \"" << (c.objective == PgdObjective::CrossEntropy ? "ce" : "kl")
     << "\", \"router_grad\": \"" << router_gradient_name(c.router_gradient)
     << "\", \"seed\": " << c.seed << "}";
  return os.str();
}

}  // namespace advmoe
