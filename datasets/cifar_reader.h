// Readers of the CIFAR binary formats (https://www.cs.toronto.edu/~kriz/cifar.html):
//   CIFAR-10: data_batch_1.bin .. data_batch_5.bin, test_batch.bin; 10,000 records of
//             <1 label byte><3072 pixel bytes> each (30,730,000 bytes per file);
//   CIFAR-100: train.bin (50,000 records), test.bin (10,000); <coarse label><fine label><3072>.
// Pixels are stored channel-planar (1024 R, 1024 G, 1024 B, rows of 32); we convert to NHWC.
#pragma once

#include <string>

#include "datasets/dataset.h"

namespace advmoe {

// Throws naming the file for missing files, wrong sizes (with the expected byte count) and
// out-of-range labels. CIFAR-100 uses the fine labels (100 classes) unless `coarse`.
Dataset load_cifar10(const std::string& dir, const std::string& split);
Dataset load_cifar100(const std::string& dir, const std::string& split, bool coarse = false);

// One file of `expected_records` records, each `label_bytes` label bytes (the label used at
// `label_offset` among them, below `classes`) then 3072 pixel bytes, appended to `d` (NHWC).
// The loaders above call it per file; the fuzz target calls it on small files.
void read_cifar_records(const std::string& path, int64_t expected_records, int label_bytes,
                        int label_offset, int classes, Dataset& d);

}  // namespace advmoe
