// CIFAR binary parsing with exact size checks.
#include "datasets/cifar_reader.h"

#include <filesystem>
#include <fstream>
#include <limits>

#include "runtime/error.h"
#include "runtime/files.h"

namespace advmoe {

namespace {

constexpr int64_t kSide = 32, kPixels = 3 * 32 * 32;

}  // namespace

void read_cifar_records(const std::string& path, int64_t expected_records, int label_bytes,
                        int label_offset, int classes, Dataset& d) {
  const int64_t record = label_bytes + kPixels;
  const int64_t expected = expected_records * record;
  // Checked before anything is allocated: the size must be exactly that of the records.
  const auto size = static_cast<int64_t>(
      require_regular_file(path, "dataset file", std::numeric_limits<int64_t>::max()));
  ADVMOE_CHECK(size == expected, "'" << path << "' has " << size << " bytes; a CIFAR file of "
                                     << expected_records << " records of " << record
                                     << " bytes has exactly " << expected);
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  ADVMOE_CHECK(in.gcount() == size, "cannot read '" << path << "'");
  size_t base = d.pixels.size();
  d.pixels.resize(base + static_cast<size_t>(expected_records * kPixels));
  for (int64_t r = 0; r < expected_records; ++r) {
    const uint8_t* rec = bytes.data() + r * record;
    int label = rec[label_offset];
    ADVMOE_CHECK(label < classes, "'" << path << "': record " << r << " has label " << label
                                      << ", not below " << classes);
    d.labels.push_back(label);
    const uint8_t* planes = rec + label_bytes;
    uint8_t* out = d.pixels.data() + base + r * kPixels;
    for (int64_t p = 0; p < kSide * kSide; ++p)
      for (int64_t c = 0; c < 3; ++c) out[p * 3 + c] = planes[c * kSide * kSide + p];
  }
}

namespace {

void finish(Dataset& d, const std::string& name, const std::string& split, int classes) {
  d.name = name + "/" + split;
  d.num_classes = classes;
  d.shape = Shape{d.size(), kSide, kSide, 3};
}

void check_split(const std::string& split) {
  ADVMOE_CHECK(split == "train" || split == "test",
               "unknown split '" << split << "' (expected train or test)");
}

}  // namespace

Dataset load_cifar10(const std::string& dir, const std::string& split) {
  check_split(split);
  Dataset d;
  if (split == "train")
    for (int i = 1; i <= 5; ++i)
      read_cifar_records(dir + "/data_batch_" + std::to_string(i) + ".bin", 10000, 1, 0, 10, d);
  else
    read_cifar_records(dir + "/test_batch.bin", 10000, 1, 0, 10, d);
  finish(d, "cifar10", split, 10);
  return d;
}

Dataset load_cifar100(const std::string& dir, const std::string& split, bool coarse) {
  check_split(split);
  Dataset d;
  int classes = coarse ? 20 : 100;
  read_cifar_records(dir + "/" + split + ".bin", split == "train" ? 50000 : 10000, 2,
                     coarse ? 0 : 1, classes, d);
  finish(d, "cifar100", split, classes);
  return d;
}

}  // namespace advmoe
