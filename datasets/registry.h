// Datasets by name, with their default locations.
#pragma once

#include <string>

#include "datasets/dataset.h"

namespace advmoe {

// Where Debian's dataset-fashion-mnist package installs the real files.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// `name`: fashion-mnist, mnist (idx), cifar10, cifar100 (binary). Empty `dir` means the default
// location.
// `limit` > 0 keeps only the first `limit` examples.
Dataset load_dataset(const std::string& name, const std::string& dir, const std::string& split,
                     int64_t limit = 0);
std::string default_data_dir(const std::string& name);
// Whether training on this dataset crops and flips by default (natural images: yes; digits and
// clothing silhouettes of the MNIST family: no).
bool augment_by_default(const std::string& name);

}  // namespace advmoe
