// Resume consistency: the options of a resumed run against the checkpoint's stored ones.
#include "tools/resume_check.h"

#include <map>
#include <set>
#include <sstream>

#include "tools/options.h"

namespace advmoe {

namespace {

// Options a resumed run may change: they do not alter what the remaining steps compute
// (--epochs extends or ends the run, as documented). Every other option must equal the
// checkpoint's stored configuration.
bool may_change_on_resume(const std::string& name) {
  static const std::set<std::string> names = {
      "epochs",          "threads",        "device",         "tf32",
      "deterministic",   "conv-search",    "data-dir",       "out",
      "final-pgd-steps", "final-restarts", "eval-pgd-steps", "eval-epsilon",
      "eval-step-size",  "eval-limit",     "launcher"};
  return names.count(name) > 0;
}

std::map<std::string, std::string> ini_values(const std::string& ini) {
  std::map<std::string, std::string> values;
  std::istringstream in(ini);
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find(" = ");
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return values;
}

}  // namespace

// The resumed run's effective options against the checkpoint's: a different method, seed or
// batch size (from an edited config.ini or the command line) would continue another run.
void check_resume_config(const std::string& checkpoint, const std::string& stored,
                         const std::string& now) {
  std::map<std::string, std::string> a = ini_values(stored), b = ini_values(now);
  std::string diff;
  for (const auto& [name, value] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second == value || may_change_on_resume(name)) continue;
    diff += "\n  --" + name + ": " + value + " in the checkpoint, " + it->second + " now";
  }
  if (!diff.empty())
    throw UsageError{
        "advmoe train: --resume: the options differ from the run's stored "
        "configuration in '" +
        checkpoint + "' (attribute 'config'):" + diff +
        "\n(change only --epochs, --threads, --launcher, the device and evaluation options "
        "when resuming, or start a new run)"};
}

}  // namespace advmoe
