// Reader of the idx format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
// big-endian header (magic 0x00000803 for images [N, rows, cols], 0x00000801 for labels [N]),
// then unsigned bytes. Files may be gzip-compressed (*.gz) or plain; zlib reads both.
#pragma once

#include <string>

#include "datasets/dataset.h"

namespace advmoe {

struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols
};

// Both throw advmoe::Error naming the file and what was expected (bad magic, truncated data,
// trailing bytes, unreadable gzip stream).
IdxImages read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path);

// Loads split "train" or "test" of an MNIST-layout folder ({train,t10k}-{images-idx3,labels-idx1}
// -ubyte[.gz]); checks that image and label counts agree and labels are below `classes`.
Dataset load_idx_dataset(const std::string& dir, const std::string& split, const std::string& name,
                         int classes = 10);

}  // namespace advmoe
