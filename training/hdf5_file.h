// A thin RAII layer over the HDF5 C API for checkpoints: files, groups, datasets of f32/f64/i32
// tensors, scalar and string attributes. Every failure throws advmoe::Error naming the file and
// the object, and HDF5's own error printing is switched off.
//
// Reading is defensive, because a checkpoint is input from outside: files must be regular files
// (a FIFO would block HDF5 forever); attributes must have the expected class and element count
// before anything is read into a buffer; datasets must be IEEE little/big-endian types of the
// exact layout (a corrupted exponent bias is not a float32), keep their data inside the file (no
// external storage, no virtual datasets: either would make us read any file of the system) and
// have their data written (no fill-value-only datasets); shapes are checked before memory is
// allocated. Datasets are written with Fletcher-32 checksums, which HDF5 verifies on every read.
#pragma once

#include <hdf5.h>

#include <functional>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace advmoe {

// Owns one hid_t and closes it with the matching H5*close.
class H5Handle {
 public:
  H5Handle() = default;
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() { reset(); }
  void reset();
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

class H5File {
 public:
  static H5File create(const std::string& path);  // truncates
  static H5File open(const std::string& path);    // read-only; clear error when not HDF5
  const std::string& path() const { return path_; }
  hid_t id() const { return file_.id(); }
  void flush();
  void close() { file_.reset(); }

  // `group` paths like "/params"; created with parents as needed.
  void make_group(const std::string& group);
  bool exists(const std::string& object) const;
  std::vector<std::string> list(const std::string& group) const;  // names in a group, sorted

  // Shape and dtype of the tensor, chunked with a Fletcher-32 checksum (HDF5 verifies it on read).
  void write(const std::string& dataset, const Tensor& host);
  // Reads into a new host tensor after the storage checks above; `max_elements` bounds the
  // allocation (a larger dataset is an error naming it).
  Tensor read(const std::string& dataset, int64_t max_elements = int64_t{1} << 31) const;
  // Throws unless `dataset` is a dataset whose data lives in this file, written (not only a fill
  // value); `need_checksum` also requires a Fletcher-32 filter.
  void check_storage(const std::string& dataset, bool need_checksum) const;
  bool is_group(const std::string& object) const;
  Shape shape_of(const std::string& dataset) const;
  DType dtype_of(const std::string& dataset) const;

  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, double value);
  void set_attr(const std::string& object, const std::string& name,
                const std::vector<int64_t>& value);
  bool has_attr(const std::string& object, const std::string& name) const;
  // Readers check the attribute's class and that it holds one value (attr_ints: 1 to
  // `max_count` values) before reading, so an array where a scalar belongs is an error, not an
  // overflow. Strings longer than `max_bytes` are refused.
  std::string attr_string(const std::string& object, const std::string& name,
                          size_t max_bytes = 1 << 20) const;
  double attr_double(const std::string& object, const std::string& name) const;
  // A finite number in [lo, hi] (integral when `integral`), else an error naming the attribute.
  double attr_number(const std::string& object, const std::string& name, double lo, double hi,
                     bool integral) const;
  std::vector<int64_t> attr_ints(const std::string& object, const std::string& name,
                                 size_t max_count = 16) const;

 private:
  H5File(std::string path, H5Handle file) : path_(std::move(path)), file_(std::move(file)) {}
  H5Handle open_object(const std::string& object) const;
  // The dataset, or an error telling a missing one from an unreadable one.
  H5Handle open_dataset(const std::string& dataset) const;
  H5Handle open_attr(const std::string& object, const std::string& name) const;
  std::string where(const std::string& object) const { return "'" + path_ + "' " + object; }
  std::string attr_where(const std::string& object, const std::string& name) const;
  // The element count of an attribute, after checking its class.
  hssize_t attr_count(hid_t attr, H5T_class_t want, const std::string& object,
                      const std::string& name) const;

  std::string path_;
  H5Handle file_;
};

// Writes an HDF5 file atomically: `fill` writes into a temporary file in the same folder, which
// is synced and renamed over `path` (and the folder synced), so a crash or kill leaves either the
// old file or the complete new one.
void write_hdf5_atomically(const std::string& path, const std::function<void(H5File&)>& fill);

}  // namespace advmoe
