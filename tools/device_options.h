// The options every command that runs a model shares: which backend, the arithmetic of its
// convolutions and GEMMs (--precision), whether eval-mode Plans fold batch norms into convs
// (--eval-fusion), and the CUDA backend's settings (TF32, deterministic
// algorithms, cuDNN's algorithm search).
#pragma once

#include <memory>
#include <string>

#include "backends/backends.h"
#include "tools/options.h"

namespace advmoe {

struct DeviceOptions {
  std::string device = "cpu";
  std::string tf32 = "off";
  bool deterministic = false;
  std::string conv_search = "timed";
  std::string precision = "fp32";
  std::string eval_fusion = "on";
};

void add_device_options(po::options_description& options, DeviceOptions& d);
// The backend the options name; a bad --tf32, --conv-search, --precision or --eval-fusion value
// is a UsageError naming it. Also sets the process's eval-fusion default (compile/plan.h).
std::shared_ptr<Backend> make_backend(const DeviceOptions& d);

}  // namespace advmoe
