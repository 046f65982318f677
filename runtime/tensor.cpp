// Tensor storage, views, host copies and conversions.
#include "runtime/tensor.h"

#include <cstring>

#include "runtime/allocator.h"

namespace advmoe {

std::string Device::str() const {
  return kind == DeviceKind::CPU ? "cpu" : "cuda:" + std::to_string(index);
}

Storage::Storage(void* data, size_t bytes, Device device, std::function<void(void*)> deleter)
    : data_(data), bytes_(bytes), device_(device), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (deleter_) deleter_(data_);
}

Tensor::Tensor(std::shared_ptr<Storage> storage, size_t offset_bytes, Shape shape, DType dtype)
    : storage_(std::move(storage)), offset_(offset_bytes), shape_(std::move(shape)), dtype_(dtype) {
  ADVMOE_CHECK(offset_ + bytes() <= storage_->bytes(),
               "tensor view " << describe() << " at offset " << offset_
                              << " exceeds its storage of " << storage_->bytes() << " bytes");
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  size_t bytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  auto storage = std::make_shared<Storage>(host_allocate(bytes), bytes, Device{}, host_free);
  return Tensor(storage, 0, shape, dtype);
}

Tensor Tensor::reshape(const Shape& shape) const {
  ADVMOE_CHECK(shape.numel() == numel(),
               "cannot reshape " << describe() << " to " << shape << ": element counts differ");
  return Tensor(storage_, offset_, shape, dtype_);
}

Tensor Tensor::clone() const {
  ADVMOE_CHECK(device().kind == DeviceKind::CPU, "clone() of a " << device().str() << " tensor");
  Tensor out = zeros(shape_, dtype_);
  std::memcpy(out.raw(), raw(), bytes());
  return out;
}

void Tensor::copy_from(const Tensor& src) const {
  ADVMOE_CHECK(src.numel() == numel(),
               "copy " << src.describe() << " into " << describe() << ": element counts differ");
  if (src.dtype() == dtype_) {
    std::memcpy(raw(), src.raw(), bytes());
    return;
  }
  ADVMOE_CHECK(is_floating(src.dtype()) && is_floating(dtype_),
               "copy " << src.describe() << " into " << describe() << ": unsupported conversion");
  for (int64_t i = 0; i < numel(); ++i) {
    double v = src.item(i);
    if (dtype_ == DType::F32)
      data<float>()[i] = static_cast<float>(v);
    else
      data<double>()[i] = v;
  }
}

void Tensor::fill(double value) const {
  for (int64_t i = 0; i < numel(); ++i) {
    switch (dtype_) {
      case DType::F32:
        data<float>()[i] = static_cast<float>(value);
        break;
      case DType::F64:
        data<double>()[i] = value;
        break;
      case DType::I32:
        data<int32_t>()[i] = static_cast<int32_t>(value);
        break;
    }
  }
}

double Tensor::item(int64_t index) const {
  ADVMOE_CHECK(index >= 0 && index < numel(),
               "index " << index << " out of range for " << describe());
  switch (dtype_) {
    case DType::F32:
      return data<float>()[index];
    case DType::F64:
      return data<double>()[index];
    case DType::I32:
      return data<int32_t>()[index];
  }
  return 0;
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_.str();
}

}  // namespace advmoe
