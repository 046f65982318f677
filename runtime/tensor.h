// Tensor: a typed, shaped view into reference-counted storage on one device.
// Copies of a Tensor share storage (like a pointer); use clone() for a deep copy.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "runtime/dtype.h"
#include "runtime/error.h"
#include "runtime/shape.h"

namespace advmoe {

enum class DeviceKind { CPU, CUDA };

struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  std::string str() const;
};

// A block of bytes owned through a deleter (host_free, cudaFree, or nothing for borrowed memory).
class Storage {
 public:
  Storage(void* data, size_t bytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  size_t bytes_;
  Device device_;
  std::function<void(void*)> deleter_;
};

// Like a pointer, a const Tensor still gives write access to its elements: constness is about
// which storage and shape it views, not the values stored there.
class Tensor {
 public:
  Tensor() = default;
  // A view of `shape` elements of `dtype` starting `offset_bytes` into `storage`.
  Tensor(std::shared_ptr<Storage> storage, size_t offset_bytes, Shape shape, DType dtype);

  // Allocates zero-filled host memory.
  static Tensor zeros(const Shape& shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device{}; }
  int64_t numel() const { return shape_.numel(); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  const std::shared_ptr<Storage>& storage() const { return storage_; }
  size_t offset_bytes() const { return offset_; }  // where this view starts in its storage
  void* raw() const { return static_cast<char*>(storage_->data()) + offset_; }
  // Typed access; checks that T matches the dtype so a wrong cast is an error, not garbage.
  template <typename T>
  T* data() const {
    ADVMOE_CHECK(dtype_of<T>() == dtype_, "tensor holds " << dtype_name(dtype_) << ", accessed as "
                                                          << dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw());
  }

  // Same bytes, another shape with the same element count.
  Tensor reshape(const Shape& shape) const;
  // Deep copy on the host.
  Tensor clone() const;
  // Copies values from `src` (same shape; converts between f32 and f64).
  void copy_from(const Tensor& src) const;
  void fill(double value) const;
  double item(int64_t index) const;  // element as double, for tests and logging
  std::string describe() const;      // "f32[128, 10]"

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::F32;
};

}  // namespace advmoe
