// Joining the data-parallel process group for the commands that run as several ranks (train,
// bench; docs/distributed.md): MPI when `launcher` says so ("mpi", or "auto" under mpirun), the
// global batch checked to split evenly, and rank 0 alone printing on stdout.
#pragma once

#include <cstdint>
#include <string>

namespace advmoe {

// Returns this rank's share of `global_batch` (all of it in a single process). Throws a usage
// error naming `command` when the batch does not split over the ranks.
int64_t join_process_group(const std::string& command, const std::string& launcher,
                           int64_t global_batch);

}  // namespace advmoe
