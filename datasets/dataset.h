// An in-memory labelled image dataset: pixels in [0, 1], NHWC, float32, on the host.
// Normalization (mean/std) is never applied here: attacks work in [0, 1] pixel space, so any
// normalization belongs to the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace advmoe {

struct Dataset {
  std::string name;             // "fashion-mnist/train"
  Tensor images;                // f32 [N, H, W, C]
  std::vector<int32_t> labels;  // [N], each in [0, num_classes)
  int num_classes = 0;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  Shape image_shape() const {
    return Shape{images.shape()[1], images.shape()[2], images.shape()[3]};
  }
  // The first n examples (n >= size() keeps all); used by --train-limit / --test-limit.
  Dataset head(int64_t n) const;
};

}  // namespace advmoe
