// A thin RAII layer over the HDF5 C API for checkpoints: files, groups, datasets of f32/f64/i32
// tensors, scalar and string attributes. Every failure throws advmoe::Error naming the file and
// the object, and HDF5's own error printing is switched off.
#pragma once

#include <hdf5.h>

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

  void write(const std::string& dataset, const Tensor& host);  // shape and dtype of the tensor
  // Reads into a new host tensor; `expected` (if rank > 0 or scalar wanted) is checked.
  Tensor read(const std::string& dataset) const;
  Shape shape_of(const std::string& dataset) const;
  DType dtype_of(const std::string& dataset) const;

  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, double value);
  void set_attr(const std::string& object, const std::string& name,
                const std::vector<int64_t>& value);
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  double attr_double(const std::string& object, const std::string& name) const;
  std::vector<int64_t> attr_ints(const std::string& object, const std::string& name) const;

 private:
  H5File(std::string path, H5Handle file) : path_(std::move(path)), file_(std::move(file)) {}
  H5Handle open_object(const std::string& object) const;
  H5Handle open_attr(const std::string& object, const std::string& name) const;
  std::string where(const std::string& object) const { return "'" + path_ + "' " + object; }

  std::string path_;
  H5Handle file_;
};

}  // namespace advmoe
