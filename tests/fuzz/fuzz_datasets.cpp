// Fuzz target: an arbitrary file as an idx image file, an idx label file and a two-record CIFAR
// file (CIFAR-10 and CIFAR-100 layouts). advmoe::Error is the expected outcome for bad files.
#include <cstdint>

#include "datasets/cifar_reader.h"
#include "datasets/idx_reader.h"
#include "fuzz_input.h"
#include "runtime/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = advmoe::fuzz::as_file(data, size, ".idx");
  auto expect_error_or_success = [](auto&& read) {
    try {
      read();
    } catch (const advmoe::Error&) {
    }
  };
  expect_error_or_success([&] { advmoe::read_idx_images(path); });
  expect_error_or_success([&] { advmoe::read_idx_labels(path); });
  expect_error_or_success([&] {
    advmoe::Dataset d;
    advmoe::read_cifar_records(path, 2, 1, 0, 10, d);
  });
  expect_error_or_success([&] {
    advmoe::Dataset d;
    advmoe::read_cifar_records(path, 2, 2, 1, 100, d);
  });
  return 0;
}
