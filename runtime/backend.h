// The backend interface every device implements: memory on its device and copies to/from the
// host. Kernels for graph nodes are looked up per backend name (see backends/kernel_registry.h);
// this layer knows nothing about graphs.
#pragma once

#include <memory>
#include <string>

#include "runtime/tensor.h"

namespace advmoe {

class Backend {
 public:
  virtual ~Backend() = default;
  // "reference" (plain loops, f32/f64), "onednn" (oneDNN + OpenMP, f32) or "cuda".
  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  // Zero-filled memory on this backend's device.
  virtual Tensor allocate(const Shape& shape, DType dtype) = 0;
  // Copies between host and this device or within it; returns once any host side may be read
  // or reused (a device-to-device copy may still be queued).
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  // Waits until all queued work is done (a no-op on CPU backends).
  virtual void synchronize() {}
};

// Host memory for the CPU backends ("reference" and "onednn").
class HostBackend : public Backend {
 public:
  explicit HostBackend(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Device device() const override { return Device{}; }
  Tensor allocate(const Shape& shape, DType dtype) override { return Tensor::zeros(shape, dtype); }
  void copy(const Tensor& dst, const Tensor& src) override;

 private:
  std::string name_;
};

}  // namespace advmoe
