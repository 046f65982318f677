// The child-process read behind H5File::open (training/hdf5_probe.h).
#include "training/hdf5_probe.h"

#include <sys/stat.h>

#include <string>

#include "runtime/child_process.h"
#include "runtime/error.h"
#include "training/checkpoint_metrics.h"
#include "training/hdf5_file.h"

#if defined(__SANITIZE_ADDRESS__)
#define ADVMOE_HAS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADVMOE_HAS_ASAN 1
#endif
#endif
#ifdef ADVMOE_HAS_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace advmoe {

namespace {

bool in_probe = false;      // true in the probing child
double time_limit_s = 0.0;  // <= 0: the default

double limit_for(const std::string& path) {
  if (time_limit_s > 0) return time_limit_s;
  struct stat st {};
  double bytes = ::stat(path.c_str(), &st) == 0 ? static_cast<double>(st.st_size) : 0.0;
  return 60.0 + bytes / 10e6;
}

// Reads every dataset of the file but the /metrics compound table (groups walked to depth 16), as
// loading would.
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

// 0: read in full; 3: a clean error, which the parent reports itself.
int read_in_child(const std::string& path) {
  in_probe = true;
#ifdef ADVMOE_HAS_ASAN
  // A sanitizer report in here is the library bug this probe exists to contain: it must end the
  // child only, not run the host's death hook (libFuzzer's would record it as a finding).
  __sanitizer_set_death_callback(nullptr);
#endif
  try {
    H5File f = H5File::open(path);
    for (const char* a : {"format", "arch", "variant", "stem", "normalize", "routing", "dataset",
                          "config", "final"})
      if (f.has_attr("/", a)) f.attr_string("/", a);
    for (const char* a :
         {"format_version", "ratio", "width", "experts", "classes", "epoch", "step", "seed"})
      if (f.has_attr("/", a)) f.attr_double("/", a);
    read_everything(f, "/", 0);
    read_metrics(f, int64_t{1} << 20);  // the compound table read_everything leaves out
  } catch (...) {
    return 3;
  }
  return 0;
}

}  // namespace

bool hdf5_probe_running() {
  return in_probe;
}

void set_hdf5_probe_time_limit(double seconds) {
  time_limit_s = seconds;
}

void probe_hdf5_in_child(const std::string& path) {
  const double limit = limit_for(path);
  ChildOutcome o;
  try {
    o = run_in_child([&] { return read_in_child(path); }, limit);
  } catch (const Error&) {
    return;  // no child could be started: no probe, the parent's own checks still run
  }
  ADVMOE_CHECK(!o.timed_out, "'" << path
                                 << "' made the HDF5 library hang: reading it took more than "
                                 << limit << " s: a corrupted checkpoint");
  bool clean = o.exited && (o.exit_code == 0 || o.exit_code == 3);
  ADVMOE_CHECK(clean, "'" << path << "' crashed the HDF5 library while being read ("
                          << (o.exited ? "exit code " + std::to_string(o.exit_code)
                                       : "signal " + std::to_string(o.signal))
                          << "): a corrupted checkpoint");
}

}  // namespace advmoe
