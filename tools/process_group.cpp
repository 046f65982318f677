// The MPI join shared by advmoe train and advmoe bench.
#include "tools/process_group.h"

#include <cstdio>

#include "distributed/mpi_communicator.h"
#include "runtime/communicator.h"
#include "runtime/error.h"
#include "tools/options.h"

namespace advmoe {

int64_t join_process_group(const std::string& command, const std::string& launcher,
                           int64_t global_batch) {
  const bool mpi = launcher == "mpi" || (launcher == "auto" && launched_by_mpi());
  if (!mpi) return global_batch;
  set_world(make_mpi_world());
  const int ranks = world().size();
  // Rank 0 reports for the job; the others' errors still reach stderr, naming their rank.
  if (world().rank() != 0 && !std::freopen("/dev/null", "w", stdout))
    throw Error("rank " + std::to_string(world().rank()) + ": cannot silence stdout");
  require(global_batch % ranks == 0, command,
          "--batch-size " + std::to_string(global_batch) +
              " (the global batch) must split evenly over " + std::to_string(ranks) + " ranks");
  return global_batch / ranks;
}

}  // namespace advmoe
