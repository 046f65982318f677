// Option parsing with exit-code-2 errors.
#include "tools/options.h"

#include <omp.h>

#include <iostream>

namespace advmoe {

bool parse_command(const std::string& command, const std::string& summary,
                   const po::options_description& options, const std::vector<std::string>& args,
                   po::variables_map& vm) {
  po::options_description all;
  all.add_options()("help,h", "show this help");
  all.add(options);
  try {
    po::store(po::command_line_parser(args).options(all).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: advmoe " << command << " [options]\n"
                << summary << "\n\n"
                << all << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError{"advmoe " + command + ": " + e.what() + " (see advmoe " + command +
                     " --help)"};
  }
  return true;
}

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace advmoe
