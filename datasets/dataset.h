// An in-memory labelled image dataset: 8-bit pixels, NHWC, on the host. Batches turn them into
// floats in [0, 1] (datasets/batcher.h). Normalization (mean/std) is never applied here: attacks
// work in [0, 1] pixel space, so any normalization belongs to the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/shape.h"

namespace advmoe {

struct Dataset {
  std::string name;             // "fashion-mnist/train"
  Shape shape;                  // [N, H, W, C]
  std::vector<uint8_t> pixels;  // N * H * W * C bytes
  std::vector<int32_t> labels;  // [N], each in [0, num_classes)
  int num_classes = 0;
  // Datasets too large for memory (ImageNet) list one JPEG per example instead of `pixels`;
  // batches decode them, resize the shorter side to `resize_to` and crop shape[1] x shape[2].
  std::vector<std::string> files;
  int64_t resize_to = 0;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  Shape image_shape() const { return Shape{shape[1], shape[2], shape[3]}; }
  int64_t image_bytes() const { return shape[1] * shape[2] * shape[3]; }
  // Pixel value in [0, 1] of flat index i (for tests and tools).
  float pixel(int64_t i) const { return pixels[static_cast<size_t>(i)] / 255.0f; }
  bool lazy() const { return !files.empty(); }
  // The first n examples (n <= 0 or n >= size() keeps all); used by --train-limit / --test-limit.
  Dataset head(int64_t n) const;
};

}  // namespace advmoe
