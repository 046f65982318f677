// The whole table of shared host loops.
#include "backends/host/host_loops.h"

namespace advmoe {

KernelTable host_loop_kernels(bool parallel) {
  KernelTable table;
  add_elementwise_loops(table, parallel);
  add_concat_loops(table, parallel);
  add_moe_loops(table, parallel);
  add_attack_loops(table, parallel);
  add_loss_loops(table, parallel);
  add_fold_loops(table, parallel);
  add_optimizer_loops(table, parallel);
  add_sparse_loops(table, parallel);
  add_collective_loops(table, parallel);
  return table;
}

}  // namespace advmoe
