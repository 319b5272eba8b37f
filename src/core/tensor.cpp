#include "hepinfer/core/tensor.h"

#include <cstring>
#include <new>

namespace hepinfer {
namespace {

struct AlignedDeleter {
  void operator()(void* data) const { ::operator delete(data, std::align_val_t{kTensorAlignment}); }
};

std::shared_ptr<void> allocate_zeroed(std::size_t bytes) {
  // Zero-byte tensors still get a distinct, aligned address so data() is never null.
  const std::size_t allocation = bytes == 0 ? kTensorAlignment : bytes;
  void* data = ::operator new(allocation, std::align_val_t{kTensorAlignment});
  std::memset(data, 0, allocation);
  return std::shared_ptr<void>(data, AlignedDeleter{});
}

std::int64_t checked_num_elements(const Shape& shape) {
  if (!shape.is_fully_defined()) {
    throw InvalidArgumentError("a tensor needs a fully defined shape, got " + shape.to_string());
  }
  return shape.num_elements();
}

}  // namespace

Tensor::Tensor() : Tensor(DType::kFloat32, Shape{0}) {}

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype), shape_(std::move(shape)), num_elements_(checked_num_elements(shape_)) {
  auto memory = allocate_zeroed(byte_size());
  data_ = memory.get();
  owner_ = std::move(memory);
}

Tensor::Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<const void> owner)
    : dtype_(dtype),
      shape_(std::move(shape)),
      num_elements_(checked_num_elements(shape_)),
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

}  // namespace hepinfer
