// The child-process read behind H5File::open (training/hdf5_probe.h).
#include "training/hdf5_probe.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "runtime/error.h"
#include "training/hdf5_file.h"

namespace advmoe {

namespace {

bool in_probe = false;  // true in the probing child

// Reads every attribute of the root and every dataset of the file (groups walked to depth 16),
// as loading would.
void read_everything(const H5File& f, const std::string& group, int depth) {
  if (depth > 16) return;
  for (const std::string& name : f.list(group)) {
    std::string path = (group == "/" ? "" : group) + "/" + name;
    if (f.is_group(path))
      read_everything(f, path, depth + 1);
    else if (path != "/metrics")
      f.read(path, int64_t{1} << 28);
  }
}

}  // namespace

bool hdf5_probe_running() {
  return in_probe;
}

void probe_hdf5_in_child(const std::string& path) {
  std::fflush(nullptr);
  pid_t child = ::fork();
  if (child < 0) return;  // no probe possible; the checks below still run
  if (child == 0) {
    in_probe = true;
    int code = 0;
    try {
      H5File f = H5File::open(path);
      for (const char* a : {"format", "arch", "variant", "stem", "normalize", "routing", "dataset",
                            "config", "final"})
        if (f.has_attr("/", a)) f.attr_string("/", a);
      for (const char* a :
           {"format_version", "ratio", "width", "experts", "classes", "epoch", "step", "seed"})
        if (f.has_attr("/", a)) f.attr_double("/", a);
      read_everything(f, "/", 0);
    } catch (...) {
      code = 3;  // a clean error: the parent reports it itself
    }
    ::_exit(code);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  bool clean = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3);
  ADVMOE_CHECK(clean,
               "'" << path << "' crashed the HDF5 library while being read ("
                   << (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                           : "exit code " + std::to_string(WEXITSTATUS(status)))
                   << "): a corrupted checkpoint");
}

}  // namespace advmoe
