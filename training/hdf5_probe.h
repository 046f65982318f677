// libhdf5 1.10.8 has memory-safety bugs of its own on corrupted files (a heap overflow in
// H5Aexists_by_name), and some corrupted metadata can make it loop for ever; no check of ours can
// prevent either, because the library parses the metadata first. So H5File::open reads an
// untrusted file in full (every root attribute, every dataset) in a forked child, under a time
// limit, before the parent touches it: a crash or a hang there becomes an advmoe::Error.
#pragma once

#include <string>

namespace advmoe {

// Throws naming `path` when reading it crashed the child or took longer than the time limit;
// returns otherwise (the parent's own checks then report any ordinary defect). The child runs
// only HDF5 and our readers, no OpenMP, so forking a process whose OpenMP threads are running is
// safe.
void probe_hdf5_in_child(const std::string& path);

// True inside the probing child (whose own H5File::open must not probe again).
bool hdf5_probe_running();

// The probe's time limit in seconds; <= 0 restores the default, 60 s plus 1 s per 10 MB of file
// (a generous bound for a local disk; a healthy read of the largest checkpoint, WRN-28-10 with
// momenta, ~300 MB, takes a few seconds). The fuzz target lowers it below libFuzzer's timeout.
void set_hdf5_probe_time_limit(double seconds);

}  // namespace advmoe
