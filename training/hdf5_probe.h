// libhdf5 1.10.8 has memory-safety bugs of its own on corrupted files (a heap overflow in
// H5Aexists_by_name) that no check of ours can prevent, because the library parses the metadata
// first. So H5File::open reads an untrusted file in full (every root attribute, every dataset)
// in a forked child before the parent touches it: a crash there becomes an advmoe::Error.
#pragma once

#include <string>

namespace advmoe {

// Throws naming `path` when reading it crashed the child; returns otherwise (the parent's own
// checks then report any ordinary defect). The child runs only HDF5 and our readers, no
// OpenMP, so forking a process whose OpenMP threads are running is safe.
void probe_hdf5_in_child(const std::string& path);

// True inside the probing child (whose own H5File::open must not probe again).
bool hdf5_probe_running();

}  // namespace advmoe
