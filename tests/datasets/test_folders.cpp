// Tiny-ImageNet and ImageNet folder layouts written here with real JPEG files: class order,
// labels, decoded pixels, ImageNet resize + crop, and the errors for damaged layouts.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "datasets/batcher.h"
#include "datasets/folder_reader.h"
#include "datasets/image.h"
#include "runtime/error.h"

#include "../helpers.h"

using namespace advmoe;
using namespace advmoe::testing;
namespace fs = std::filesystem;

namespace {

// A flat-colour image: JPEG keeps flat colours almost exactly.
Image flat(int64_t h, int64_t w, uint8_t r, uint8_t g, uint8_t b) {
  Image im;
  im.height = h;
  im.width = w;
  for (int64_t i = 0; i < h * w; ++i) im.pixels.insert(im.pixels.end(), {r, g, b});
  return im;
}

uint8_t red_of(int klass) {
  return static_cast<uint8_t>(30 + 60 * klass);
}

// tiny-imagenet-200 with wnids listed out of order; class k is red_of(rank of its wnid).
void write_tiny(const fs::path& dir) {
  std::ofstream(dir / "wnids.txt") << "n03\nn01\nn02\n";
  const char* wnids[] = {"n01", "n02", "n03"};
  for (int k = 0; k < 3; ++k) {
    fs::path images = dir / "train" / wnids[k] / "images";
    fs::create_directories(images);
    for (int i = 0; i < 2; ++i)
      write_jpeg_file(
          (images / (std::string(wnids[k]) + "_" + std::to_string(i) + ".JPEG")).string(),
          flat(64, 64, red_of(k), 100, 50));
  }
  fs::create_directories(dir / "val" / "images");
  std::ofstream ann(dir / "val" / "val_annotations.txt");
  for (int i = 0; i < 4; ++i) {
    int k = (i * 2) % 3;
    std::string file = "val_" + std::to_string(i) + ".JPEG";
    write_jpeg_file((dir / "val" / "images" / file).string(), flat(64, 64, red_of(k), 100, 50));
    ann << file << "\t" << wnids[k] << "\t0\t0\t63\t63\n";
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(folder_datasets)

BOOST_AUTO_TEST_CASE(tiny_imagenet_train_and_val) {
  TempDir dir;
  write_tiny(dir.path);
  Dataset train = load_tiny_imagenet(dir.path.string(), "train");
  BOOST_TEST(train.size() == 6);
  BOOST_TEST(train.num_classes == 3);
  BOOST_TEST(train.shape == (Shape{6, 64, 64, 3}));
  for (int64_t i = 0; i < 6; ++i) {
    int k = train.labels[static_cast<size_t>(i)];
    BOOST_TEST(k == i / 2);
    int red = train.pixels[static_cast<size_t>(i * 64 * 64 * 3 + 3 * 100)];
    BOOST_TEST(std::abs(red - red_of(k)) <= 3, "example " << i << " red " << red);
  }
  Dataset val = load_tiny_imagenet(dir.path.string(), "test");
  BOOST_TEST(val.size() == 4);
  BOOST_TEST(val.labels[1] == 2);
  BOOST_TEST(std::abs(int{val.pixels[static_cast<size_t>(64 * 64 * 3)]} - red_of(2)) <= 3);
  BOOST_TEST(load_tiny_imagenet(dir.path.string(), "train", 3).size() == 3);
}

BOOST_AUTO_TEST_CASE(tiny_imagenet_damage_is_reported) {
  TempDir dir;
  write_tiny(dir.path);
  std::ofstream(dir.path / "wnids.txt", std::ios::app) << "n04\n";
  std::string m = error_of([&] { load_tiny_imagenet(dir.path.string(), "train"); });
  BOOST_TEST(m.find("missing class folder") != std::string::npos, m);
  BOOST_TEST(m.find("n04") != std::string::npos, m);

  TempDir dir2;
  write_tiny(dir2.path);
  std::ofstream(dir2.path / "train" / "n02" / "images" / "n02_1.JPEG") << "this is no jpeg";
  m = error_of([&] { load_tiny_imagenet(dir2.path.string(), "train"); });
  BOOST_TEST(m.find("cannot decode JPEG") != std::string::npos, m);
  BOOST_TEST(m.find("n02_1.JPEG") != std::string::npos, m);

  TempDir dir3;
  write_tiny(dir3.path);
  write_jpeg_file((dir3.path / "train" / "n01" / "images" / "n01_0.JPEG").string(),
                  flat(32, 32, 1, 2, 3));
  m = error_of([&] { load_tiny_imagenet(dir3.path.string(), "train"); });
  BOOST_TEST(m.find("is 32x32, expected 64x64") != std::string::npos, m);

  TempDir dir4;
  write_tiny(dir4.path);
  std::ofstream(dir4.path / "val" / "val_annotations.txt", std::ios::app)
      << "val_9.JPEG\tn77\t0\t0\t1\t1\n";
  m = error_of([&] { load_tiny_imagenet(dir4.path.string(), "test"); });
  BOOST_TEST(m.find("line 5: unknown class 'n77'") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(imagenet_folders_resize_and_crop) {
  TempDir dir;
  const char* wnids[] = {"n10", "n20"};
  for (const char* split : {"train", "val"})
    for (int k = 0; k < 2; ++k) {
      fs::create_directories(dir.path / split / wnids[k]);
      for (int i = 0; i < 2; ++i)
        write_jpeg_file(
            (dir.path / split / wnids[k] / ("img" + std::to_string(i) + ".JPEG")).string(),
            flat(300 + 40 * i, 260, red_of(k), 90, 40));
    }
  Dataset val = index_imagenet(dir.path.string(), "test");
  BOOST_TEST(val.size() == 4);
  BOOST_TEST(val.lazy());
  BOOST_TEST(val.shape == (Shape{4, 224, 224, 3}));
  BOOST_TEST(val.labels[3] == 1);
  std::vector<int64_t> order(4);
  std::iota(order.begin(), order.end(), 0);
  Tensor images = Tensor::zeros({4, 224, 224, 3}, DType::F32),
         labels = Tensor::zeros({4}, DType::I32);
  BOOST_TEST(gather_batch(val, order, 0, Augmentation{4, true}, 1, 1, images, labels) == 4);
  for (int64_t n = 0; n < 4; ++n) {
    double red = images.item(((n * 224 + 111) * 224 + 5) * 3) * 255;
    BOOST_TEST(std::abs(red - red_of(static_cast<int>(n / 2))) <= 3, "image " << n);
  }
  fs::remove_all(dir.path / "val" / "n20");
  std::string m = error_of([&] { index_imagenet(dir.path.string(), "test"); });
  BOOST_TEST(m.find("missing class folder") != std::string::npos, m);
  BOOST_TEST(m.find("n20") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(resize_and_crop_geometry) {
  Image im = flat(300, 200, 10, 20, 30);
  Image r = resize_shorter_side(im, 256);
  BOOST_TEST(r.width == 256);
  BOOST_TEST(r.height == 384);
  BOOST_TEST(int{r.pixels[1000 * 3 + 1]} == 20);
  Image gradient;
  gradient.height = 1;
  gradient.width = 2;
  gradient.pixels = {0, 0, 0, 200, 200, 200};
  Image wide = resize_bilinear(gradient, 1, 4);  // centres at 0.25, 0.75 of each source pixel
  BOOST_TEST(int{wide.pixels[0]} == 0);
  BOOST_TEST(int{wide.pixels[3]} == 50);
  BOOST_TEST(int{wide.pixels[6]} == 150);
  BOOST_TEST(int{wide.pixels[9]} == 200);
  BOOST_CHECK_THROW(crop(im, 250, 0, 64), Error);
  BOOST_TEST(crop(im, 10, 20, 64).height == 64);
}

BOOST_AUTO_TEST_SUITE_END()
