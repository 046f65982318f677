// Fuzz target: an arbitrary file given to the checkpoint loader, as `advmoe eval` would: the
// header is read and validated, the model it describes is built (batch 1) and every tensor is
// loaded with its optimizer state. advmoe::Error is the expected outcome for bad files; a crash,
// a sanitizer report, a hang or any other exception is a finding.
#include <cstdint>

#include "backends/backends.h"
#include "fuzz_input.h"
#include "models/registry.h"
#include "runtime/error.h"
#include "training/checkpoint.h"
#include "training/hdf5_probe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = advmoe::fuzz::as_file(data, size, ".h5");
  // A file that makes libhdf5 loop becomes an advmoe::Error before libFuzzer's own timeout (20 s
  // in scripts/fuzz.sh) would call it a finding.
  advmoe::set_hdf5_probe_time_limit(5);
  try {
    advmoe::CheckpointHeader h = advmoe::read_checkpoint_header(path);
    advmoe::ModelConfig mc = h.model;
    mc.batch = 1;
    // Bounded work per input: big images are valid but slow to build, not a finding.
    if (mc.image[0] * mc.image[1] > 64 * 64) return 0;
    advmoe::Model model = advmoe::build_model(mc);
    static auto backend = advmoe::make_backend("reference");
    advmoe::Variables variables(*backend);
    advmoe::load_checkpoint_tensors(path, model, variables, /*with_optimizer=*/true);
  } catch (const advmoe::Error&) {
  }
  return 0;
}
