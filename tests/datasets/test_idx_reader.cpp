// idx reader on files written here in the real format (plain and gzip), on damaged files, and
// on the real Fashion-MNIST test set that Debian's dataset-fashion-mnist installs.
#include <boost/test/unit_test.hpp>

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "datasets/batcher.h"
#include "datasets/idx_reader.h"
#include "datasets/registry.h"
#include "runtime/error.h"

#include "../helpers.h"

using namespace advmoe;
using namespace advmoe::testing;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

std::vector<uint8_t> images_file(uint32_t count, uint32_t rows, uint32_t cols) {
  std::vector<uint8_t> bytes;
  for (uint32_t v : {0x803u, count, rows, cols}) {
    auto b = be32(v);
    bytes.insert(bytes.end(), b.begin(), b.end());
  }
  for (uint32_t i = 0; i < count * rows * cols; ++i) bytes.push_back(static_cast<uint8_t>(i * 13));
  return bytes;
}

std::vector<uint8_t> labels_file(uint32_t count, uint8_t classes = 10) {
  std::vector<uint8_t> bytes;
  for (uint32_t v : {0x801u, count}) {
    auto b = be32(v);
    bytes.insert(bytes.end(), b.begin(), b.end());
  }
  for (uint32_t i = 0; i < count; ++i) bytes.push_back(static_cast<uint8_t>(i % classes));
  return bytes;
}

void write_plain(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const fs::path& p, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(idx_reader)

BOOST_AUTO_TEST_CASE(reads_gzip_and_plain_files) {
  TempDir dir;
  write_gz(dir.path / "train-images-idx3-ubyte.gz", images_file(6, 4, 3));
  write_plain(dir.path / "train-labels-idx1-ubyte", labels_file(6));
  Dataset d = load_idx_dataset(dir.path.string(), "train", "toy");
  BOOST_TEST(d.size() == 6);
  BOOST_TEST(d.shape == (Shape{6, 4, 3, 1}));
  BOOST_TEST(d.labels[4] == 4);
  BOOST_TEST(d.pixel(5) == static_cast<uint8_t>(5 * 13) / 255.0,
             boost::test_tools::tolerance(1e-6));
  BOOST_TEST(d.head(2).size() == 2);
}

BOOST_AUTO_TEST_CASE(truncated_file_names_file_and_sizes) {
  TempDir dir;
  auto bytes = images_file(5, 4, 4);
  bytes.resize(bytes.size() - 7);
  fs::path p = dir.path / "t.gz";
  write_gz(p, bytes);
  std::string m = error_of([&] { read_idx_images(p.string()); });
  BOOST_TEST(m.find(p.string()) != std::string::npos);
  BOOST_TEST(m.find("truncated") != std::string::npos);
  BOOST_TEST(m.find("80 bytes") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(wrong_magic_and_trailing_bytes) {
  TempDir dir;
  fs::path p = dir.path / "labels";
  write_plain(p, labels_file(5));
  BOOST_TEST(error_of([&] { read_idx_images(p.string()); }).find("not an idx images file") !=
             std::string::npos);
  auto bytes = labels_file(5);
  bytes.push_back(1);
  write_plain(p, bytes);
  BOOST_TEST(error_of([&] { read_idx_labels(p.string()); }).find("unexpected bytes") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(corrupted_gzip_stream) {
  TempDir dir;
  fs::path p = dir.path / "c.gz";
  write_gz(p, images_file(50, 8, 8));
  std::vector<char> raw(fs::file_size(p));
  std::ifstream(p, std::ios::binary).read(raw.data(), static_cast<std::streamsize>(raw.size()));
  for (size_t i = 20; i < raw.size() - 10; i += 3) raw[i] = static_cast<char>(raw[i] ^ 0x5a);
  std::ofstream(p, std::ios::binary).write(raw.data(), static_cast<std::streamsize>(raw.size()));
  std::string m = error_of([&] { read_idx_images(p.string()); });
  BOOST_TEST(!m.empty());
  BOOST_TEST(m.find(p.string()) != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(count_mismatch_bad_label_and_missing_file) {
  TempDir dir;
  write_plain(dir.path / "t10k-images-idx3-ubyte", images_file(4, 2, 2));
  write_plain(dir.path / "t10k-labels-idx1-ubyte", labels_file(3));
  BOOST_TEST(error_of([&] {
               load_idx_dataset(dir.path.string(), "test", "toy");
             }).find("has 3 labels") != std::string::npos);
  auto bad_label = labels_file(4);
  bad_label.back() = 10;
  write_plain(dir.path / "t10k-labels-idx1-ubyte", bad_label);
  BOOST_TEST(error_of([&] {
               load_idx_dataset(dir.path.string(), "test", "toy", 10);
             }).find("label 10 of example") != std::string::npos);
  BOOST_TEST(error_of([&] {
               load_idx_dataset(dir.path.string(), "train", "toy");
             }).find("missing dataset file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(real_fashion_mnist_test_set) {
  BOOST_REQUIRE_MESSAGE(fs::exists(kFashionMnistDir),
                        kFashionMnistDir << " is missing: install dataset-fashion-mnist "
                                            "(scripts/install-deps.sh)");
  Dataset d = load_dataset("fashion-mnist", "", "test");
  BOOST_TEST(d.size() == 10000);
  BOOST_TEST(d.shape == (Shape{10000, 28, 28, 1}));
  std::vector<int> per_class(10, 0);
  for (int32_t y : d.labels) per_class.at(static_cast<size_t>(y))++;
  for (int c : per_class) BOOST_TEST(c == 1000);  // the test set is balanced
  double lo = 1, hi = 0;
  for (int64_t i = 0; i < d.shape.numel(); ++i) {
    lo = std::min<double>(lo, d.pixel(i));
    hi = std::max<double>(hi, d.pixel(i));
  }
  BOOST_TEST(lo == 0.0);
  BOOST_TEST(hi == 1.0);
}

BOOST_AUTO_TEST_CASE(epoch_order_is_a_reproducible_permutation) {
  auto a = epoch_order(3, 1, 1000), b = epoch_order(3, 1, 1000), c = epoch_order(3, 2, 1000);
  BOOST_TEST(a == b);
  BOOST_TEST(a != c);
  BOOST_TEST(std::set<int64_t>(a.begin(), a.end()).size() == 1000u);
  BOOST_TEST(*std::max_element(a.begin(), a.end()) == 999);
}

BOOST_AUTO_TEST_SUITE_END()
