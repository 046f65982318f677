// Runs a function in a forked child process under a time limit, for work that may crash or never
// return through no fault of ours (libhdf5 parsing a corrupted file: training/hdf5_probe.h).
#pragma once

#include <functional>

namespace advmoe {

struct ChildOutcome {
  bool timed_out = false;  // still running at the limit: killed (SIGKILL)
  bool exited = false;     // returned or called _exit; exit_code is its status
  int exit_code = 0;
  int signal = 0;  // the signal that ended it, when it neither exited nor timed out
};

// Forks; the child runs `body` and _exits with its result (an exception escaping `body` is exit
// code 125). The parent waits at most `time_limit_s` seconds. Throws advmoe::Error when fork
// fails. The child must not rely on threads of the parent: only the forking thread exists there.
ChildOutcome run_in_child(const std::function<int()>& body, double time_limit_s);

}  // namespace advmoe
