// The process group over MPI (Open MPI): `mpirun -np P advmoe train ...` starts P processes and
// each one joins MPI_COMM_WORLD here. Host collectives are MPI calls; device collectives (the
// CUDA backend's gradient all-reduce) go through an NCCL communicator that is bootstrapped over
// MPI on first use (rank 0's ncclUniqueId broadcast to the others), so NCCL needs no launcher
// of its own.
#pragma once

#include <memory>

#include "runtime/communicator.h"

namespace advmoe {

// True when this process was started by an MPI launcher (Open MPI's mpirun/mpiexec, or any PMI
// one), read from the launcher's environment variables.
bool launched_by_mpi();

// The rank of this process among those on its host (for picking a GPU), 0 when unknown.
int local_rank_from_environment();

// MPI_Init_thread (funneled: only the main thread calls MPI) and the world communicator;
// MPI_Finalize when the returned group is destroyed.
std::unique_ptr<Communicator> make_mpi_world();

}  // namespace advmoe
