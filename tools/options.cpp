// Option parsing with exit-code-2 errors and INI config files.
#include "tools/options.h"

#include <omp.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "runtime/error.h"
#include "runtime/files.h"

namespace advmoe {

namespace {

// Boost.Program_options (1.74) builds its error messages by replacing placeholders such as
// %value% and %canonical_option% until none is left, so a bad token that itself contains one
// (`--seed %value%`) makes it loop for ever. No advmoe option or value contains '%...%': such
// text is refused before Boost sees it.
void refuse_placeholders(const std::string& command, const std::string& text,
                         const std::string& where) {
  size_t open = text.find('%');
  while (open != std::string::npos) {
    size_t close = text.find('%', open + 1);
    if (close == std::string::npos) return;
    std::string name = text.substr(open + 1, close - open - 1);
    bool placeholder =
        !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos;
    if (placeholder)
      throw UsageError{"advmoe " + command + ": " + where + " contains '%" + name +
                       "%', which no option or value may contain"};
    open = close;
  }
}

// A config file is a few hundred bytes; a larger one is not ours (or is /dev/zero-like).
constexpr uint64_t kMaxConfigBytes = 1 << 20;

void store_config_file(const std::string& command, const std::string& path,
                       const po::options_description& options, po::variables_map& vm) {
  try {
    require_regular_file(path, "config file", kMaxConfigBytes);
  } catch (const Error& e) {
    throw UsageError{"advmoe " + command + ": " + e.what()};
  }
  std::ifstream in(path);
  if (!in) throw UsageError{"advmoe " + command + ": cannot read config file '" + path + "'"};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  refuse_placeholders(command, text, "config file '" + path + "'");
  std::istringstream in_text(text);
  try {
    po::parsed_options parsed =
        po::parse_config_file(in_text, options, /*allow_unregistered=*/false);
    // Every value is converted, even those the command line overrides (store() would skip
    // them): a config file with an invalid value is an error, not a time bomb.
    po::variables_map all_values;
    po::store(parsed, all_values);
    po::store(parsed, vm);
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
  for (const std::string& arg : args) refuse_placeholders(command, arg, "argument '" + arg + "'");
  po::options_description all;
  all.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(), "read options from this INI file (command line wins)");
  all.add(options);
  try {
    // An empty positional description: a stray argument (a typo, a missing "--") is an error.
    po::positional_options_description no_positional;
    po::store(po::command_line_parser(args).options(all).positional(no_positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: advmoe " << command << " [options]\n"
                << summary << "\n\n"
                << all << "\n";
      return false;
    }
    if (vm.count("config")) store_config_file(command, vm["config"].as<std::string>(), all, vm);
    if (options.find_nothrow("resume", false) && vm.count("resume")) {
      std::string dir = vm["resume"].as<std::string>();
      if (!path_exists(dir + "/config.ini"))
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

int max_threads() {
  // Far above any machine's cores, far below what crashes the OpenMP runtime (100,000).
  return std::max(1024, 4 * static_cast<int>(std::thread::hardware_concurrency()));
}

void set_threads(int threads) {
  if (threads < 0 || threads > max_threads())
    throw UsageError{"--threads must be in [0, " + std::to_string(max_threads()) +
                     "] (0: all cores), got " + std::to_string(threads)};
  if (threads > 0) omp_set_num_threads(threads);
}

void require(bool ok, const std::string& command, const std::string& message) {
  if (!ok) throw UsageError{"advmoe " + command + ": " + message};
}

}  // namespace advmoe
