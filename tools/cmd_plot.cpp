// advmoe plot: figures from run directories and analysis results, drawn by tools/plot.py with
// matplotlib (python3-matplotlib: the plotting library researchers expect and Debian ships; a
// C++ plotting stack would be far more code for worse figures). Each figure is written as PNG
// and SVG, with the numbers it drew beside it as JSON.
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/error.h"
#include "runtime/files.h"
#include "tools/options.h"

#ifndef ADVMOE_SOURCE_DIR
#define ADVMOE_SOURCE_DIR "."
#endif

namespace advmoe {

namespace {

// The script: $ADVMOE_PLOT_SCRIPT, else the source tree's tools/plot.py.
std::string plot_script() {
  const char* env = std::getenv("ADVMOE_PLOT_SCRIPT");
  return env && *env ? env : std::string(ADVMOE_SOURCE_DIR) + "/tools/plot.py";
}

// Debian's python3 (where python3-matplotlib installs), not whichever python3 comes first on PATH
// (a pyenv or conda one without matplotlib); $ADVMOE_PYTHON overrides.
std::string python() {
  const char* env = std::getenv("ADVMOE_PYTHON");
  if (env && *env) return env;
  return path_exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

}  // namespace

int cmd_plot(const std::vector<std::string>& args) {
  for (const std::string& a : args)
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: advmoe plot INPUT... --out DIR [--kind auto|curves|usage|dissection|iou|scale|"
          "experts|alpha]\n"
          "Figures (PNG and SVG, and the data each drew as .data.json) of:\n"
          "  run directories (metrics.csv, usage.csv): training curves and expert usage,\n"
          "  advmoe dissect --json files: the four-category bars,\n"
          "  advmoe iou --json files: IoU histograms,\n"
          "  sweep summary.tsv files: RA/SA vs model scale r or vs experts N (--kind scale or\n"
          "  experts), means over seeds with standard-deviation error bars,\n"
          "  advmoe sweep-alpha --json files: the dual model's SA and RA vs alpha.\n");
      return 0;
    }
  std::string script = plot_script();
  require(path_exists(script), "plot",
          "the plotting script '" + script + "' is missing (set ADVMOE_PLOT_SCRIPT)");
  const std::string interpreter = python();
  std::vector<std::string> argv_strings{interpreter, script};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  pid_t child = fork();
  ADVMOE_CHECK(child >= 0, "plot: cannot start python3");
  if (child == 0) {
    execvp(interpreter.c_str(), argv.data());
    std::fprintf(stderr, "advmoe plot: cannot run %s (install python3-matplotlib)\n",
                 interpreter.c_str());
    _exit(127);
  }
  int status = 0;
  ADVMOE_CHECK(waitpid(child, &status, 0) == child, "plot: lost the python3 process");
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 1;
}

}  // namespace advmoe
