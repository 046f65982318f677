// Tiny-ImageNet and ImageNet folder layouts.
#include "datasets/folder_reader.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "datasets/image.h"
#include "runtime/error.h"

namespace advmoe {

namespace fs = std::filesystem;

namespace {

bool is_jpeg(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".jpeg" || ext == ".jpg";
}

std::vector<std::string> sorted_jpegs(const fs::path& folder) {
  ADVMOE_CHECK(fs::is_directory(folder), "missing image folder '" << folder.string() << "'");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_regular_file() && is_jpeg(e.path())) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> sorted_subfolders(const fs::path& folder) {
  ADVMOE_CHECK(fs::is_directory(folder), "missing dataset folder '" << folder.string() << "'");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  ADVMOE_CHECK(!names.empty(), "dataset folder '" << folder.string() << "' has no class folders");
  return names;
}

// Tiny-ImageNet's classes: wnids.txt when present (every one must have a train folder), else
// the train folders themselves.
std::vector<std::string> tiny_classes(const fs::path& dir) {
  fs::path list = dir / "wnids.txt";
  if (!fs::exists(list)) return sorted_subfolders(dir / "train");
  std::ifstream in(list);
  std::vector<std::string> wnids;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) wnids.push_back(line.substr(0, line.find_last_not_of(" \r\t") + 1));
  std::sort(wnids.begin(), wnids.end());
  for (const std::string& w : wnids)
    ADVMOE_CHECK(fs::is_directory(dir / "train" / w / "images"),
                 "missing class folder '" << (dir / "train" / w / "images").string()
                                          << "' for wnid " << w << " listed in " << list.string());
  return wnids;
}

// Decodes `files` into d.pixels in parallel; every image must be size x size.
void decode_all(const std::vector<std::string>& files, int64_t size, Dataset& d) {
  int64_t n = static_cast<int64_t>(files.size()), bytes = size * size * 3;
  d.pixels.resize(static_cast<size_t>(n * bytes));
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; ++i) {
    try {
      Image image = decode_jpeg_file(files[static_cast<size_t>(i)]);
      ADVMOE_CHECK(image.height == size && image.width == size,
                   "'" << files[static_cast<size_t>(i)] << "' is " << image.height << "x"
                       << image.width << ", expected " << size << "x" << size);
      std::copy(image.pixels.begin(), image.pixels.end(), d.pixels.begin() + i * bytes);
    } catch (...) {
#pragma omp critical
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

Dataset load_tiny_imagenet(const std::string& root, const std::string& split, int64_t limit) {
  ADVMOE_CHECK(split == "train" || split == "test",
               "unknown split '" << split << "' (expected train or test)");
  fs::path dir(root);
  std::vector<std::string> classes = tiny_classes(dir);
  std::map<std::string, int32_t> index;
  for (size_t i = 0; i < classes.size(); ++i) index[classes[i]] = static_cast<int32_t>(i);

  std::vector<std::string> files;
  Dataset d;
  if (split == "train") {
    for (const std::string& w : classes)
      for (const std::string& f : sorted_jpegs(dir / "train" / w / "images")) {
        files.push_back(f);
        d.labels.push_back(index[w]);
      }
  } else {
    // Tiny-ImageNet's labelled evaluation split is val/ (its test/ has no labels).
    fs::path annotations = dir / "val" / "val_annotations.txt";
    std::ifstream in(annotations);
    ADVMOE_CHECK(in, "missing '" << annotations.string() << "'");
    int line_number = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_number;
      if (line.empty()) continue;
      std::istringstream fields(line);
      std::string file, wnid;
      fields >> file >> wnid;
      ADVMOE_CHECK(index.count(wnid), "'" << annotations.string() << "' line " << line_number
                                          << ": unknown class '" << wnid << "'");
      files.push_back((dir / "val" / "images" / file).string());
      d.labels.push_back(index[wnid]);
    }
  }
  ADVMOE_CHECK(!files.empty(), "tiny-imagenet '" << root << "' has no " << split << " images");
  if (limit > 0 && limit < static_cast<int64_t>(files.size())) {
    files.resize(static_cast<size_t>(limit));
    d.labels.resize(static_cast<size_t>(limit));
  }
  decode_all(files, 64, d);
  d.name = "tiny-imagenet/" + split;
  d.num_classes = static_cast<int>(classes.size());
  d.shape = Shape{static_cast<int64_t>(files.size()), 64, 64, 3};
  return d;
}

Dataset index_imagenet(const std::string& root, const std::string& split, int64_t image_size,
                       int64_t resize_to) {
  ADVMOE_CHECK(split == "train" || split == "test",
               "unknown split '" << split << "' (expected train or test)");
  fs::path dir(root);
  std::vector<std::string> classes = sorted_subfolders(dir / "train");
  fs::path split_dir = dir / (split == "train" ? "train" : "val");
  Dataset d;
  for (size_t c = 0; c < classes.size(); ++c) {
    fs::path folder = split_dir / classes[c];
    ADVMOE_CHECK(fs::is_directory(folder), "missing class folder '" << folder.string() << "'");
    for (const std::string& f : sorted_jpegs(folder)) {
      d.files.push_back(f);
      d.labels.push_back(static_cast<int32_t>(c));
    }
  }
  ADVMOE_CHECK(!d.files.empty(), "imagenet '" << root << "' has no " << split << " images");
  d.name = "imagenet/" + split;
  d.num_classes = static_cast<int>(classes.size());
  d.shape = Shape{d.size(), image_size, image_size, 3};
  d.resize_to = resize_to;
  return d;
}

}  // namespace advmoe
