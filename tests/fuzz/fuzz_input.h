// Shared by the fuzz targets: the readers under test open files (HDF5, zlib and the CIFAR reader
// all take paths), so each input is written to one temp file per process first.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace advmoe::fuzz {

// Writes the input to a per-process temp file (with `suffix`) and returns its path.
inline std::string as_file(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp ? tmp : "/tmp");
  }();
  std::string path = dir + "/advmoe-fuzz-" + std::to_string(::getpid()) + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}

}  // namespace advmoe::fuzz
