// Command-line plumbing shared by the subcommands: Boost.Program_options parsing with clear
// errors (exit code 2), `--config FILE` (INI; the command line wins), and the run directory's
// config.ini.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace advmoe {

namespace po = boost::program_options;

// Thrown for bad usage; main() prints the message and exits with code 2.
struct UsageError {
  std::string message;
};

// Parses `args` (without the subcommand) into `vm`, then the INI file given by --config and, for
// commands with --resume DIR, DIR/config.ini; values given earlier win. `--help` prints usage
// and returns false.
bool parse_command(const std::string& command, const std::string& summary,
                   const po::options_description& options, const std::vector<std::string>& args,
                   po::variables_map& vm);

// The parsed options as INI lines "name = value" (help/config/resume left out), which
// --config reads back.
std::string options_as_ini(const po::variables_map& vm);

// Sets the OpenMP/oneDNN thread count when threads > 0; a usage error outside [0, max].
void set_threads(int threads);

// Throws UsageError "advmoe <command>: <message>" unless `ok`. Range checks of options read like
// require(t.lr > 0 && t.lr <= 10, "train", "--lr must be in (0, 10], got ...").
void require(bool ok, const std::string& command, const std::string& message);

int cmd_train(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_flops(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
int cmd_dissect(const std::vector<std::string>& args);
int cmd_iou(const std::vector<std::string>& args);
int cmd_plot(const std::vector<std::string>& args);
int cmd_sweep_alpha(const std::vector<std::string>& args);

}  // namespace advmoe
