// CIFAR readers on full-size files in the real binary formats (written here), augmentation
// determinism and geometry, and the prefetching loader.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "datasets/batcher.h"
#include "datasets/cifar_reader.h"
#include "runtime/error.h"

#include "../helpers.h"

using namespace advmoe;
using namespace advmoe::testing;
namespace fs = std::filesystem;

namespace {

// Channel-planar pixel value of record r, plane c, position p, as our test files store it.
uint8_t planar_value(int64_t r, int64_t c, int64_t p) {
  return static_cast<uint8_t>((r * 7 + c * 50 + p) % 256);
}

void write_cifar_file(const fs::path& path, int64_t records, int label_bytes, int label_mod) {
  std::vector<uint8_t> bytes;
  bytes.reserve(static_cast<size_t>(records * (label_bytes + 3072)));
  for (int64_t r = 0; r < records; ++r) {
    for (int b = 0; b < label_bytes; ++b)
      bytes.push_back(static_cast<uint8_t>((r + b) % label_mod));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t p = 0; p < 1024; ++p) bytes.push_back(planar_value(r, c, p));
  }
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

Dataset synthetic(int64_t n, int64_t h, int64_t w, int64_t c) {
  Dataset d;
  d.name = "synthetic";
  d.shape = Shape{n, h, w, c};
  d.num_classes = 10;
  for (int64_t i = 0; i < n * h * w * c; ++i)
    d.pixels.push_back(static_cast<uint8_t>((i * 31 + 7) % 251));
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 10));
  return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cifar_and_batches)

BOOST_AUTO_TEST_CASE(cifar10_test_batch_real_format) {
  TempDir dir;
  write_cifar_file(dir.path / "test_batch.bin", 10000, 1, 10);
  BOOST_TEST(fs::file_size(dir.path / "test_batch.bin") == 30730000u);
  Dataset d = load_cifar10(dir.path.string(), "test");
  BOOST_TEST(d.size() == 10000);
  BOOST_TEST(d.shape == (Shape{10000, 32, 32, 3}));
  BOOST_TEST(d.labels[1234] == 4);
  // NHWC: record 77, row 5, column 9, channel 2 comes from plane 2, position 5 * 32 + 9.
  BOOST_TEST(d.pixels[static_cast<size_t>(((77 * 32 + 5) * 32 + 9) * 3 + 2)] ==
             planar_value(77, 2, 5 * 32 + 9));
  BOOST_TEST(error_of([&] {
               load_cifar10(dir.path.string(), "train");
             }).find("missing dataset file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cifar10_bad_size_and_label) {
  TempDir dir;
  fs::path p = dir.path / "test_batch.bin";
  write_cifar_file(p, 10000, 1, 10);
  fs::resize_file(p, 30730000 - 1);
  std::string m = error_of([&] { load_cifar10(dir.path.string(), "test"); });
  BOOST_TEST(m.find("test_batch.bin") != std::string::npos);
  BOOST_TEST(m.find("exactly 30730000") != std::string::npos, m);
  write_cifar_file(p, 10000, 1, 11);  // labels up to 10
  m = error_of([&] { load_cifar10(dir.path.string(), "test"); });
  BOOST_TEST(m.find("record 10 has label 10") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(cifar100_fine_and_coarse_labels) {
  TempDir dir;
  write_cifar_file(dir.path / "test.bin", 10000, 2, 20);  // coarse r % 20, fine (r + 1) % 20
  Dataset fine = load_cifar100(dir.path.string(), "test");
  Dataset coarse = load_cifar100(dir.path.string(), "test", /*coarse=*/true);
  BOOST_TEST(fine.num_classes == 100);
  BOOST_TEST(coarse.num_classes == 20);
  BOOST_TEST(fine.labels[45] == 6);
  BOOST_TEST(coarse.labels[45] == 5);
  BOOST_TEST(fs::file_size(dir.path / "test.bin") == 30740000u);
}

BOOST_AUTO_TEST_CASE(augmentation_is_deterministic_and_geometric) {
  Dataset d = synthetic(16, 8, 8, 3);
  std::vector<int64_t> order(16);
  std::iota(order.begin(), order.end(), 0);
  auto batch = [&](Augmentation a, uint64_t seed, int64_t epoch) {
    Tensor images = Tensor::zeros({16, 8, 8, 3}, DType::F32),
           labels = Tensor::zeros({16}, DType::I32);
    gather_batch(d, order, 0, a, seed, epoch, images, labels);
    return images;
  };
  auto same = [](const Tensor& a, const Tensor& b) {
    return std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
  };
  Augmentation both{4, true};
  BOOST_TEST(same(batch(both, 1, 2), batch(both, 1, 2)));
  BOOST_TEST(!same(batch(both, 1, 2), batch(both, 1, 3)));
  BOOST_TEST(!same(batch(both, 1, 2), batch(both, 2, 2)));

  Tensor plain = batch({}, 1, 2), cropped = batch({4, false}, 5, 1),
         flipped = batch({0, true}, 5, 1);
  BOOST_TEST(plain.item(5) == d.pixel(5));
  int flips = 0;
  for (int64_t n = 0; n < 16; ++n) {
    // Each cropped image equals the plain image shifted by some (dy, dx) in [-4, 4], zero-filled.
    bool found = false;
    for (int dy = -4; dy <= 4 && !found; ++dy)
      for (int dx = -4; dx <= 4 && !found; ++dx) {
        bool match = true;
        for (int64_t y = 0; y < 8 && match; ++y)
          for (int64_t x = 0; x < 8 && match; ++x)
            for (int64_t c = 0; c < 3 && match; ++c) {
              int64_t sy = y + dy, sx = x + dx;
              double want = sy < 0 || sy >= 8 || sx < 0 || sx >= 8
                                ? 0.0
                                : plain.item(((n * 8 + sy) * 8 + sx) * 3 + c);
              match = cropped.item(((n * 8 + y) * 8 + x) * 3 + c) == want;
            }
        found = match;
      }
    BOOST_TEST(found, "image " << n << " is not a padded crop");
    bool mirrored = true, unchanged = true;
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t x = 0; x < 8; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          double v = flipped.item(((n * 8 + y) * 8 + x) * 3 + c);
          mirrored = mirrored && v == plain.item(((n * 8 + y) * 8 + (7 - x)) * 3 + c);
          unchanged = unchanged && v == plain.item(((n * 8 + y) * 8 + x) * 3 + c);
        }
    BOOST_TEST((mirrored || unchanged));
    flips += mirrored;
  }
  BOOST_TEST(flips > 2);
  BOOST_TEST(flips < 14);
}

BOOST_AUTO_TEST_CASE(loader_matches_direct_gathering_and_pads_the_last_batch) {
  Dataset d = synthetic(37, 4, 4, 1);
  std::vector<int64_t> order = epoch_order(3, 1, 37);
  Augmentation aug{1, true};
  BatchLoader loader(d, order, 8, /*drop_last=*/false, aug, 3, 1);
  BOOST_TEST(loader.num_batches() == 5);
  Tensor images = Tensor::zeros({8, 4, 4, 1}, DType::F32), labels = Tensor::zeros({8}, DType::I32);
  Tensor want = images.clone(), want_labels = labels.clone();
  int64_t total = 0, batches = 0;
  while (int64_t rows = loader.next(images, labels)) {
    int64_t expected_rows = gather_batch(d, order, batches * 8, aug, 3, 1, want, want_labels);
    BOOST_TEST(rows == expected_rows);
    BOOST_TEST(std::memcmp(images.raw(), want.raw(), images.bytes()) == 0);
    BOOST_TEST(std::memcmp(labels.raw(), want_labels.raw(), labels.bytes()) == 0);
    total += rows;
    ++batches;
  }
  BOOST_TEST(total == 37);
  BOOST_TEST(batches == 5);
  BatchLoader dropping(d, order, 8, /*drop_last=*/true, {}, 0, 0);
  BOOST_TEST(dropping.num_batches() == 4);
}

// Data-parallel shards (datasets/batcher.h Shard): rank r's batches are rows [r * 4, r * 4 + 4)
// of each global batch of 8, augmented exactly as one process would, and a rank whose share of
// the short last batch is empty stops there.
BOOST_AUTO_TEST_CASE(rank_shards_tile_the_global_batches) {
  Dataset d = synthetic(37, 4, 4, 1);
  std::vector<int64_t> order = epoch_order(3, 1, 37);
  Augmentation aug{1, true};
  Tensor whole = Tensor::zeros({8, 4, 4, 1}, DType::F32),
         whole_labels = Tensor::zeros({8}, DType::I32);
  Tensor part = Tensor::zeros({4, 4, 4, 1}, DType::F32),
         part_labels = Tensor::zeros({4}, DType::I32);
  const size_t half = part.bytes();
  int64_t total = 0;
  for (int64_t rank = 0; rank < 2; ++rank) {
    BatchLoader loader(d, order, 4, /*drop_last=*/false, aug, 3, 1, Shard{rank, 2});
    BOOST_TEST(loader.num_batches() == 5);
    int64_t batch = 0;
    while (int64_t rows = loader.next(part, part_labels)) {
      gather_batch(d, order, batch * 8, aug, 3, 1, whole, whole_labels);
      BOOST_TEST(std::memcmp(part.raw(), static_cast<char*>(whole.raw()) + rank * half, half) == 0,
                 "rank " << rank << " batch " << batch);
      BOOST_TEST(std::memcmp(part_labels.raw(), whole_labels.data<int32_t>() + rank * 4,
                             part_labels.bytes()) == 0);
      total += rows;
      ++batch;
    }
    // 37 = 4 full global batches + 5: rank 0 gets 4 of the last, rank 1 one.
    BOOST_TEST(batch == 5);
  }
  BOOST_TEST(total == 37);
  BatchLoader dropping(d, order, 4, /*drop_last=*/true, {}, 0, 0, Shard{1, 2});
  BOOST_TEST(dropping.num_batches() == 4);
  BOOST_CHECK_THROW(BatchLoader(d, order, 4, true, {}, 0, 0, Shard{2, 2}), Error);
}

BOOST_AUTO_TEST_SUITE_END()
