// Checks run before any file is opened for reading: the path must name a regular file (a FIFO
// would block forever, a device like /dev/zero would be read without end, a directory or a
// dangling link would fail later with a vague message), optionally of bounded size.
#pragma once

#include <cstdint>
#include <string>

namespace advmoe {

// Throws advmoe::Error naming `what` and `path` unless `path` is a regular file (after
// following symbolic links). The messages tell a missing file, a dangling link, a directory
// and a FIFO/device/socket apart.
void require_regular_file(const std::string& path, const std::string& what);

// As above, and the file must hold at most `max_bytes` bytes. Returns its size.
uint64_t require_regular_file(const std::string& path, const std::string& what, uint64_t max_bytes);

// True when `path` names something (file, folder, link, even a dangling one).
bool path_exists(const std::string& path);

}  // namespace advmoe
