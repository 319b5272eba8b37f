#include "hepinfer/core/shape.h"

#include <limits>

#include "hepinfer/core/error.h"

namespace hepinfer {

Shape Shape::unknown_rank() {
  Shape shape;
  shape.rank_known_ = false;
  return shape;
}

bool Shape::is_fully_defined() const {
  if (!rank_known_) return false;
  for (std::int64_t dim : dims_) {
    if (dim < 0) return false;
  }
  return true;
}

std::int64_t Shape::num_elements() const {
  if (!is_fully_defined()) {
    throw InvalidArgumentError("shape " + to_string() + " is not fully defined");
  }
  std::int64_t product = 1;
  for (std::int64_t dim : dims_) {
    if (dim != 0 && product > std::numeric_limits<std::int64_t>::max() / dim) {
      throw InvalidArgumentError("shape " + to_string() + " has more elements than fit in int64");
    }
    product *= dim;
  }
  return product;
}

bool Shape::accepts(const Shape& actual) const {
  if (!rank_known_) return true;
  if (!actual.rank_known_ || actual.rank() != rank()) return false;
  for (std::size_t axis = 0; axis < rank(); ++axis) {
    if (dims_[axis] >= 0 && dims_[axis] != actual.dims_[axis]) return false;
  }
  return true;
}

std::string Shape::to_string() const {
  if (!rank_known_) return "<unknown rank>";
  std::string text = "[";
  for (std::size_t axis = 0; axis < dims_.size(); ++axis) {
    if (axis > 0) text += ", ";
    text += std::to_string(dims_[axis]);
  }
  return text + "]";
}

}  // namespace hepinfer
