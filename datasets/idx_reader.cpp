// idx parsing with zlib's gz* functions, which read gzip and plain files alike.
#include "datasets/idx_reader.h"

#include <zlib.h>

#include <filesystem>
#include <memory>

#include "runtime/error.h"
#include "runtime/files.h"

namespace advmoe {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803, kLabelsMagic = 0x00000801;

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    require_regular_file(path, "dataset file");
    file_ = gzopen(path.c_str(), "rb");
    ADVMOE_CHECK(file_ != nullptr, "cannot open '" << path << "'");
  }
  ~GzFile() { gzclose(file_); }

  // Reads exactly `bytes` bytes; `what` names the part of the file for the error message.
  void read(void* out, size_t bytes, const std::string& what) {
    size_t done = 0;
    while (done < bytes) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes - done, 1u << 30));
      int got = gzread(file_, static_cast<char*>(out) + done, chunk);
      if (got < 0) {
        int code = 0;
        ADVMOE_FAIL("'" << path_ << "' is corrupted while reading " << what << ": "
                        << gzerror(file_, &code));
      }
      ADVMOE_CHECK(got > 0, "'" << path_ << "' is truncated: expected " << bytes << " bytes of "
                                << what << ", got " << done);
      done += static_cast<size_t>(got);
    }
  }
  uint32_t read_u32(const std::string& what) {
    unsigned char b[4];
    read(b, 4, what);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  // Reads `bytes` bytes into `out` in chunks, growing it as data arrives: a header announcing
  // billions of items costs no memory before the file proves to hold them.
  void read_growing(std::vector<uint8_t>& out, uint64_t bytes, const std::string& what) {
    constexpr uint64_t kChunk = uint64_t{1} << 24;
    out.clear();
    while (out.size() < bytes) {
      size_t at = out.size();
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - at));
      out.resize(at + n);
      try {
        read(out.data() + at, n, what);
      } catch (const Error&) {
        ADVMOE_FAIL("'" << path_ << "' is truncated: its header announces " << bytes << " bytes of "
                        << what << ", the file holds fewer");
      }
    }
  }
  void expect_end() {
    char extra;
    int got = gzread(file_, &extra, 1);
    ADVMOE_CHECK(got == 0, "'" << path_ << "' has "
                               << (got < 0 ? "a corrupted gzip stream" : "unexpected bytes")
                               << " after the data its header announces");
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

// No idx dataset of this kind comes near 2^28 images; more is a corrupted header.
constexpr uint32_t kMaxIdxCount = uint32_t{1} << 28;

void expect_magic(const std::string& path, uint32_t magic, uint32_t expected, const char* kind) {
  ADVMOE_CHECK(magic == expected, "'" << path << "' is not an idx " << kind << " file: magic 0x"
                                      << std::hex << magic << ", expected 0x" << expected);
}

// "train-images-idx3-ubyte" -> the .gz file if present, else the plain one.
std::string find_file(const std::string& dir, const std::string& base) {
  for (const std::string& candidate : {dir + "/" + base + ".gz", dir + "/" + base})
    if (path_exists(candidate)) return candidate;
  ADVMOE_FAIL("missing dataset file: neither '" << dir << "/" << base << ".gz' nor '" << dir << "/"
                                                << base << "' exists");
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  GzFile file(path);
  expect_magic(path, file.read_u32("the header"), kImagesMagic, "images");
  IdxImages out;
  out.count = file.read_u32("the header");
  out.rows = file.read_u32("the header");
  out.cols = file.read_u32("the header");
  ADVMOE_CHECK(out.rows > 0 && out.cols > 0 && out.rows <= 4096 && out.cols <= 4096,
               "'" << path << "' announces implausible image size " << out.rows << "x" << out.cols);
  ADVMOE_CHECK(out.count <= kMaxIdxCount,
               "'" << path << "' announces an implausible " << out.count << " images");
  file.read_growing(out.pixels, static_cast<uint64_t>(out.count * out.rows * out.cols),
                    "pixel data (" + std::to_string(out.count) + " images of " +
                        std::to_string(out.rows) + "x" + std::to_string(out.cols) + ")");
  file.expect_end();
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  GzFile file(path);
  expect_magic(path, file.read_u32("the header"), kLabelsMagic, "labels");
  uint32_t count = file.read_u32("the header");
  ADVMOE_CHECK(count <= kMaxIdxCount,
               "'" << path << "' announces an implausible " << count << " labels");
  std::vector<uint8_t> labels;
  file.read_growing(labels, count, "labels (" + std::to_string(count) + ")");
  file.expect_end();
  return labels;
}

Dataset load_idx_dataset(const std::string& dir, const std::string& split, const std::string& name,
                         int classes) {
  ADVMOE_CHECK(split == "train" || split == "test", "unknown split '" << split << "'");
  std::string prefix = split == "train" ? "train" : "t10k";
  std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  IdxImages images = read_idx_images(images_path);
  // The MNIST family is 28x28 by definition; another geometry of the same byte count (1x784,
  // 56x14) would train a model on scrambled images.
  ADVMOE_CHECK(
      (name != "mnist" && name != "fashion-mnist") || (images.rows == 28 && images.cols == 28),
      "'" << images_path << "' holds " << images.rows << "x" << images.cols << " images; " << name
          << " images are 28x28");
  ADVMOE_CHECK(images.count > 0,
               "'" << images_path << "' holds no images (empty " << split << " split)");
  std::vector<uint8_t> labels = read_idx_labels(labels_path);
  ADVMOE_CHECK(static_cast<int64_t>(labels.size()) == images.count,
               "'" << labels_path << "' has " << labels.size() << " labels but '" << images_path
                   << "' has " << images.count << " images");

  Dataset d;
  d.name = name + "/" + split;
  d.num_classes = classes;
  d.shape = Shape{images.count, images.rows, images.cols, 1};
  d.pixels = std::move(images.pixels);
  d.labels.resize(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    ADVMOE_CHECK(labels[i] < classes, "'" << labels_path << "': label " << int{labels[i]}
                                          << " of example " << i << " is not below " << classes);
    d.labels[i] = labels[i];
  }
  return d;
}

}  // namespace advmoe
