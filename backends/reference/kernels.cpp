// The reference backend's entry: every op as plain serial loops in f32 and f64, the oracle the
// other backends are tested against. Ops without a reference-only kernel use the shared host
// loops (backends/host/), run serially.
#include "backends/host/host_loops.h"
#include "backends/reference/reference_kernels.h"

namespace advmoe {

void register_reference_kernels(KernelRegistry& registry) {
  KernelTable table = host_loop_kernels(/*parallel=*/false);
  add_reference_conv(table);        // conv2d (+ backward data / weights), channel_sum
  add_reference_batch_norm(table);  // batch_norm (+ backward)
  add_reference_pooling(table);     // max / avg / global-avg pooling (+ backward)
  add_reference_linear(table);      // linear (+ backward data / weights)
  add_reference_moe(table);         // expert_conv (+ backward) as per-sample loops
  register_table(registry, "reference", table);
}

}  // namespace advmoe
