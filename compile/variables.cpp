// Named persistent tensors shared by Plans.
#include "compile/variables.h"

#include "runtime/error.h"

namespace advmoe {

const Tensor& Variables::get(const std::string& name) const {
  auto it = tensors_.find(name);
  ADVMOE_CHECK(it != tensors_.end(), "no variable named '" << name << "'");
  return it->second;
}

const Tensor& Variables::ensure(const std::string& name, const Shape& shape, DType dtype) {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    return tensors_.emplace(name, backend_->allocate(shape, dtype)).first->second;
  ADVMOE_CHECK(it->second.shape() == shape && it->second.dtype() == dtype,
               "variable '" << name << "' is " << it->second.describe() << " but the graph needs "
                            << dtype_name(dtype) << shape);
  return it->second;
}

void Variables::set(const std::string& name, const Tensor& value) {
  auto it = tensors_.find(name);
  if (it == tensors_.end() || it->second.shape() != value.shape() ||
      it->second.dtype() != value.dtype()) {
    tensors_[name] = backend_->allocate(value.shape(), value.dtype());
    it = tensors_.find(name);
  }
  backend_->copy(it->second, value);
}

std::vector<std::string> Variables::names() const {
  std::vector<std::string> out;
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

}  // namespace advmoe
