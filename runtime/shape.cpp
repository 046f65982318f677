// Printing of shapes for error messages: "[128, 28, 28, 1]".
#include "runtime/shape.h"

#include <sstream>

namespace advmoe {

std::string Shape::str() const {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < dims_.size(); ++i) os << (i ? ", " : "") << dims_[i];
  os << "]";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << s.str();
}

}  // namespace advmoe
