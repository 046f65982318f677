// Dataset lookup by name, and Dataset::head.
#include "datasets/registry.h"

#include "datasets/cifar_reader.h"
#include "datasets/folder_reader.h"
#include "datasets/idx_reader.h"
#include "runtime/error.h"

namespace advmoe {

Dataset Dataset::head(int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  Dataset out;
  out.name = name;
  out.num_classes = num_classes;
  out.shape = Shape{n, shape[1], shape[2], shape[3]};
  if (lazy())
    out.files.assign(files.begin(), files.begin() + n);
  else
    out.pixels.assign(pixels.begin(), pixels.begin() + n * image_bytes());
  out.resize_to = resize_to;
  out.labels.assign(labels.begin(), labels.begin() + n);
  return out;
}

namespace {
const char* kDatasets = "fashion-mnist, mnist, cifar10, cifar100, tiny-imagenet, imagenet";
}  // namespace

std::string default_data_dir(const std::string& name) {
  if (name == "fashion-mnist") return kFashionMnistDir;
  if (name == "mnist") return "/usr/share/datasets/mnist";
  // The folders the official archives unpack to, under ./data.
  if (name == "cifar10") return "data/cifar-10-batches-bin";
  if (name == "cifar100") return "data/cifar-100-binary";
  if (name == "tiny-imagenet") return "data/tiny-imagenet-200";
  if (name == "imagenet") return "data/imagenet";
  ADVMOE_FAIL("unknown dataset '" << name << "' (available: " << kDatasets << ")");
}

bool augment_by_default(const std::string& name) {
  return name != "fashion-mnist" && name != "mnist";
}

Dataset load_dataset(const std::string& name, const std::string& dir, const std::string& split,
                     int64_t limit) {
  std::string root = dir.empty() ? default_data_dir(name) : dir;
  if (name == "fashion-mnist" || name == "mnist")
    return load_idx_dataset(root, split, name).head(limit);
  if (name == "cifar10") return load_cifar10(root, split).head(limit);
  if (name == "cifar100") return load_cifar100(root, split).head(limit);
  if (name == "tiny-imagenet") return load_tiny_imagenet(root, split, limit);
  if (name == "imagenet") return index_imagenet(root, split).head(limit);
  ADVMOE_FAIL("unknown dataset '" << name << "' (available: " << kDatasets << ")");
}

}  // namespace advmoe
