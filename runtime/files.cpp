// require_regular_file: one stat() and a message per kind of wrong path.
#include "runtime/files.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "runtime/error.h"

namespace advmoe {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

void require_regular_file(const std::string& path, const std::string& what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int error = errno;
    struct stat link;
    if (error == ENOENT && ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode))
      ADVMOE_FAIL(what << " '" << path << "' is a symbolic link to a missing file");
    if (error == ENOENT) ADVMOE_FAIL("missing " << what << " '" << path << "' (no such file)");
    ADVMOE_FAIL("cannot access " << what << " '" << path << "': " << std::strerror(error));
  }
  ADVMOE_CHECK(S_ISREG(st.st_mode),
               what << " '" << path << "' is " << kind_of(st.st_mode) << ", not a regular file");
}

uint64_t require_regular_file(const std::string& path, const std::string& what,
                              uint64_t max_bytes) {
  require_regular_file(path, what);
  struct stat st;
  ADVMOE_CHECK(::stat(path.c_str(), &st) == 0, "cannot access " << what << " '" << path << "'");
  const auto size = static_cast<uint64_t>(st.st_size);
  ADVMOE_CHECK(size <= max_bytes, what << " '" << path << "' has " << size
                                       << " bytes, more than the " << max_bytes << " allowed");
  return size;
}

}  // namespace advmoe
