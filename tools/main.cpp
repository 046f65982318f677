// The advmoe command: dispatches to subcommands (train, eval, inspect, bench) and turns errors into
// messages and exit codes (2: bad usage or input, 1: failure while running).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/communicator.h"
#include "runtime/error.h"
#include "tools/options.h"

namespace {

void print_usage() {
  std::cout << "usage: advmoe <command> [options]\n\n"
               "commands:\n"
               "  train    train a model; checkpoints and metrics go to a run directory\n"
               "  eval     evaluate a checkpoint on a test set\n"
               "  inspect  show a checkpoint's metadata, tensors and metrics\n"
               "  bench    measure training/inference images/s and plan memory\n"
               "  flops    count multiply-accumulates per sample (pathway and router)\n"
               "  export   write a structured Sparse-CNN as its compact dense model\n"
               "  dissect  router/pathway robustness of an MoE under attack (four categories)\n"
               "  iou      pathway IoU: clean vs adversarial, and with a Sparse-CNN's mask\n"
               "  plot     figures (PNG, SVG) of runs and analysis results\n"
               "  sweep-alpha  the dual model's SA / RA over its alpha\n\n"
               "advmoe <command> --help shows the options of a command.\n";
}

// Under mpirun every rank runs this; only train and bench are data-parallel (the others would
// run P copies of one job, racing on the same files).
bool refuses_ranks(const std::string& command) {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!size) size = std::getenv("PMI_SIZE");
  return size && std::atoi(size) > 1 && command != "train" && command != "bench";
}

// A failure on one rank of a data-parallel job names the rank and stops every rank (the others
// would wait in their next collective forever); a single process just returns the code. The
// message goes out in one write, so the lines of several failing ranks do not interleave.
int fail(const std::string& line, int code) {
  advmoe::Communicator& group = advmoe::world();
  if (group.size() == 1) {
    std::cerr << line << "\n";
    return code;
  }
  const std::string rank =
      "[rank " + std::to_string(group.rank()) + " of " + std::to_string(group.size()) + "] ";
  const std::string text = rank + line + "\n" + rank +
                           "stopping every rank; the last checkpoint written (last.h5) stays "
                           "loadable\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
  group.abort(code);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage();
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (refuses_ranks(command)) {
    std::cerr << "advmoe " << command << ": runs in one process; only train and bench run "
              << "data-parallel under mpirun (docs/distributed.md)\n";
    return 2;
  }
  try {
    if (command == "train") return advmoe::cmd_train(args);
    if (command == "eval") return advmoe::cmd_eval(args);
    if (command == "inspect") return advmoe::cmd_inspect(args);
    if (command == "bench") return advmoe::cmd_bench(args);
    if (command == "flops") return advmoe::cmd_flops(args);
    if (command == "export") return advmoe::cmd_export(args);
    if (command == "dissect") return advmoe::cmd_dissect(args);
    if (command == "iou") return advmoe::cmd_iou(args);
    if (command == "plot") return advmoe::cmd_plot(args);
    if (command == "sweep-alpha") return advmoe::cmd_sweep_alpha(args);
    std::cerr << "advmoe: unknown command '" << command << "'\n";
    print_usage();
    return 2;
  } catch (const advmoe::UsageError& e) {
    return fail(e.message, 2);
  } catch (const advmoe::Error& e) {
    return fail("advmoe " + command + ": error: " + e.what(), 2);
  } catch (const std::exception& e) {
    return fail("advmoe " + command + ": failed: " + e.what(), 1);
  }
}
