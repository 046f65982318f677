// Option parsing with exit-code-2 errors and INI config files.
#include "tools/options.h"

#include <omp.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace advmoe {

namespace {

void store_config_file(const std::string& command, const std::string& path,
                       const po::options_description& options, po::variables_map& vm) {
  std::ifstream in(path);
  if (!in) throw UsageError{"advmoe " + command + ": cannot read config file '" + path + "'"};
  try {
    po::store(po::parse_config_file(in, options, /*allow_unregistered=*/false), vm);
  } catch (const po::error& e) {
    throw UsageError{"advmoe " + command + ": config file '" + path + "': " + e.what()};
  }
}

// boost::any holding one of the value types our options use, as text.
std::string value_text(const boost::any& v) {
  std::ostringstream os;
  if (auto* s = boost::any_cast<std::string>(&v)) return *s;
  if (auto* i = boost::any_cast<int>(&v))
    os << *i;
  else if (auto* l = boost::any_cast<int64_t>(&v))
    os << *l;
  else if (auto* u = boost::any_cast<uint64_t>(&v))
    os << *u;
  else if (auto* d = boost::any_cast<double>(&v))
    os << *d;
  else if (auto* b = boost::any_cast<bool>(&v))
    os << (*b ? "true" : "false");
  else
    return "";
  return os.str();
}

}  // namespace

bool parse_command(const std::string& command, const std::string& summary,
                   const po::options_description& options, const std::vector<std::string>& args,
                   po::variables_map& vm) {
  po::options_description all;
  all.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(), "read options from this INI file (command line wins)");
  all.add(options);
  try {
    po::store(po::command_line_parser(args).options(all).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: advmoe " << command << " [options]\n"
                << summary << "\n\n"
                << all << "\n";
      return false;
    }
    if (vm.count("config")) store_config_file(command, vm["config"].as<std::string>(), all, vm);
    if (options.find_nothrow("resume", false) && vm.count("resume")) {
      std::string dir = vm["resume"].as<std::string>();
      if (!std::filesystem::exists(dir + "/config.ini"))
        throw UsageError{"advmoe " + command + ": --resume " + dir + ": no config.ini there"};
      store_config_file(command, dir + "/config.ini", all, vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError{"advmoe " + command + ": " + e.what() + " (see advmoe " + command +
                     " --help)"};
  }
  return true;
}

std::string options_as_ini(const po::variables_map& vm) {
  std::ostringstream os;
  for (const auto& [name, value] : vm) {
    if (name == "help" || name == "config" || name == "resume") continue;
    os << name << " = " << value_text(value.value()) << "\n";
  }
  return os.str();
}

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace advmoe
