// `advmoe train --resume`: the run's effective options (config.ini and the command line, as
// INI text from options_as_ini) against the configuration stored in the checkpoint.
#pragma once

#include <string>

namespace advmoe {

// Throws UsageError listing every option that differs, except those a resume may change
// (--epochs, threads, device and evaluation options): a different method, seed, batch size or
// data limit would continue another run.
void check_resume_config(const std::string& checkpoint, const std::string& stored,
                         const std::string& now);

}  // namespace advmoe
