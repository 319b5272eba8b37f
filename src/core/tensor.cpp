#include "hepinfer/core/tensor.h"

#include <cstring>
#include <limits>
#include <string>
#include <new>

namespace hepinfer {
namespace {

struct AlignedDeleter {
  void operator()(void* data) const { ::operator delete(data, std::align_val_t{kTensorAlignment}); }
};

// Zeroed, aligned memory, or null when it is not there (the caller names the tensor in its error,
// so that no message is built on the path that succeeds).
std::shared_ptr<void> allocate_zeroed(std::size_t bytes) {
  // Zero-byte tensors still get a distinct, aligned address so data() is never null.
  const std::size_t allocation = bytes == 0 ? kTensorAlignment : bytes;
  // nothrow, so that sanitizer builds (whose allocators abort on a failing throwing new) report
  // the same typed error.
  void* data = ::operator new(allocation, std::align_val_t{kTensorAlignment}, std::nothrow);
  if (data == nullptr) return nullptr;
  std::memset(data, 0, allocation);
  return std::shared_ptr<void>(data, AlignedDeleter{});
}

std::int64_t checked_num_elements(const Shape& shape, DType dtype) {
  if (!shape.is_fully_defined()) {
    throw InvalidArgumentError("a tensor needs a fully defined shape, got " + shape.to_string());
  }
  const std::int64_t elements = shape.num_elements();
  if (elements > std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(dtype_size(dtype))) {
    throw InvalidArgumentError("a " + std::string(dtype_name(dtype)) + " tensor of shape " + shape.to_string() +
                               " has more bytes than fit in int64");
  }
  return elements;
}

}  // namespace

Tensor::Tensor() : Tensor(DType::kFloat32, Shape{0}) {}

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype), shape_(std::move(shape)), num_elements_(checked_num_elements(shape_, dtype_)) {
  auto memory = allocate_zeroed(byte_size());
  if (memory == nullptr) {
    throw ResourceExhaustedError("cannot allocate " + std::to_string(byte_size()) + " bytes for tensor " + description());
  }
  data_ = memory.get();
  owner_ = std::move(memory);
}

Tensor::Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<const void> owner)
    : dtype_(dtype),
      shape_(std::move(shape)),
      num_elements_(checked_num_elements(shape_, dtype_)),
      data_(data),
      owner_(std::move(owner)) {
  if (data_ == nullptr && num_elements_ > 0) {
    throw InvalidArgumentError("tensor " + description() + " given a null data pointer");
  }
}

Tensor Tensor::view(DType dtype, Shape shape, void* data) {
  return Tensor(dtype, std::move(shape), data, nullptr);
}

Tensor Tensor::shared(DType dtype, Shape shape, void* data, std::shared_ptr<const void> owner) {
  if (owner == nullptr) {
    throw InvalidArgumentError("Tensor::shared needs an owner; use Tensor::view for unowned memory");
  }
  return Tensor(dtype, std::move(shape), data, std::move(owner));
}

Tensor Tensor::from_values(Shape shape, const std::vector<bool>& values) {
  Tensor tensor(DType::kBool, std::move(shape));
  tensor.check_element_count(values.size());
  std::copy(values.begin(), values.end(), static_cast<bool*>(tensor.raw_data()));
  return tensor;
}

Tensor Tensor::clone() const {
  Tensor copy(dtype_, shape_);
  if (byte_size() > 0) std::memcpy(copy.data_, data_, byte_size());
  return copy;
}

std::string Tensor::description() const {
  return std::string(dtype_name(dtype_)) + shape_.to_string();
}

void Tensor::check_dtype(DType requested) const {
  if (requested != dtype_) {
    throw DTypeMismatchError("tensor " + description() + " accessed as " +
                             std::string(dtype_name(requested)));
  }
}

void Tensor::check_element_count(std::size_t given) const {
  if (given != static_cast<std::size_t>(num_elements_)) {
    throw ShapeMismatchError("tensor of shape " + shape_.to_string() + " needs " +
                             std::to_string(num_elements_) + " values, got " + std::to_string(given));
  }
}

Tensor Tensor::slice_rows(std::int64_t begin, std::int64_t end) const {
  if (shape_.rank() == 0) throw InvalidArgumentError("cannot take rows of scalar " + description());
  if (begin < 0 || end < begin || end > rows()) {
    throw InvalidArgumentError("rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") are outside " +
                               description());
  }
  std::vector<std::int64_t> dims = shape_.dims();
  const std::int64_t row_elements = rows() == 0 ? 0 : num_elements_ / rows();
  dims[0] = end - begin;
  auto* first = static_cast<std::byte*>(data_) + static_cast<std::size_t>(begin * row_elements) * dtype_size(dtype_);
  return Tensor(dtype_, Shape(std::move(dims)), first, owner_);
}

Tensor concat_rows(std::span<const Tensor> parts, const std::string& what) {
  if (parts.empty()) throw InvalidArgumentError("cannot concatenate zero parts of " + what);
  const Tensor& first = parts.front();
  if (first.shape().rank() == 0) throw ShapeMismatchError("cannot concatenate scalar parts of " + what);
  std::int64_t rows = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Tensor& part = parts[i];
    if (part.dtype() != first.dtype()) {
      throw DTypeMismatchError(what + ": part " + std::to_string(i) + " is " + part.description() + ", part 0 is " +
                               first.description());
    }
    bool same_row_shape = part.shape().rank() == first.shape().rank();
    for (std::size_t axis = 1; same_row_shape && axis < first.shape().dims().size(); ++axis) {
      same_row_shape = part.shape()[axis] == first.shape()[axis];
    }
    if (!same_row_shape) {
      throw ShapeMismatchError(what + ": part " + std::to_string(i) + " is " + part.description() +
                               ", which does not continue part 0, " + first.description());
    }
    rows += part.rows();
  }
  std::vector<std::int64_t> dims = first.shape().dims();
  dims[0] = rows;
  Tensor result(first.dtype(), Shape(std::move(dims)));
  auto* out = static_cast<std::byte*>(result.raw_data());
  for (const Tensor& part : parts) {
    if (part.byte_size() > 0) std::memcpy(out, part.raw_data(), part.byte_size());
    out += part.byte_size();
  }
  return result;
}

}  // namespace hepinfer
