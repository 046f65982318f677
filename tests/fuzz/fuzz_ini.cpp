// Fuzz target: an arbitrary file as `--config FILE` for a command with options of every value
// type our commands use (string, int, int64, uint64, double, switch); the parsed options are
// then written back as INI (options_as_ini, what config.ini holds) and parsed again.
// UsageError (exit code 2 in advmoe) is the expected outcome for bad files.
#include <cstdint>

#include "fuzz_input.h"
#include "runtime/error.h"
#include "tools/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = advmoe::fuzz::as_file(data, size, ".ini");
  std::string text;
  int count = 0;
  int64_t limit = 0;
  uint64_t seed = 0;
  double lr = 0;
  bool flag = false;
  advmoe::po::options_description o("fuzz options");
  o.add_options()("method", advmoe::po::value(&text)->default_value("standard"), "")(
      "epochs", advmoe::po::value(&count)->default_value(1), "")(
      "train-limit", advmoe::po::value(&limit)->default_value(0), "")(
      "seed", advmoe::po::value(&seed)->default_value(0), "")(
      "lr", advmoe::po::value(&lr)->default_value(0.05), "")("deterministic",
                                                             advmoe::po::bool_switch(&flag), "");
  try {
    advmoe::po::variables_map vm;
    advmoe::parse_command("fuzz", "", o, {"--config", path}, vm);
    std::string ini = advmoe::options_as_ini(vm);
    std::string again = advmoe::fuzz::as_file(reinterpret_cast<const uint8_t*>(ini.data()),
                                              ini.size(), ".again.ini");
    advmoe::po::variables_map vm2;
    advmoe::parse_command("fuzz", "", o, {"--config", again}, vm2);
  } catch (const advmoe::UsageError&) {
  } catch (const advmoe::Error&) {
  }
  return 0;
}
