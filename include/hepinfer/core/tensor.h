#pragma once
// A dense, contiguous, row-major tensor that either owns its memory or views someone else's.
//
// Copies are shallow: they share the same memory (as tensorflow::Tensor and torch::Tensor do),
// so passing tensors around never copies data. clone() makes a deep copy. Owned memory is
// aligned to kTensorAlignment bytes, which lets backends use it without copying.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hepinfer/core/dtype.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/shape.h"

namespace hepinfer {

inline constexpr std::size_t kTensorAlignment = 64;

class Tensor {
 public:
  // An empty float32 tensor of shape [0].
  Tensor();
  // Owns new zero-initialised memory. The shape must be fully defined.
  Tensor(DType dtype, Shape shape);

  // Views `data` without owning it: the caller keeps the memory alive while the tensor (or any
  // copy of it) is used.
  static Tensor view(DType dtype, Shape shape, void* data);
  // Shares memory kept alive by `owner` (e.g. a buffer of a backend runtime).
  static Tensor shared(DType dtype, Shape shape, void* data, std::shared_ptr<const void> owner);

  // Owned tensor holding a copy of `values`; values.size() must equal the shape's elements.
  template <class T>
  static Tensor from_values(Shape shape, std::span<const T> values);
  template <class T>
  static Tensor from_values(Shape shape, const std::vector<T>& values) {
    return from_values<T>(std::move(shape), std::span<const T>(values));
  }
  static Tensor from_values(Shape shape, const std::vector<bool>& values);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::int64_t num_elements() const { return num_elements_; }
  std::size_t byte_size() const { return static_cast<std::size_t>(num_elements_) * dtype_size(dtype_); }
  // Rows along the first axis (the batch); 0 for a scalar.
  std::int64_t rows() const { return shape_.rank() == 0 ? 0 : shape_[0]; }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }

  // Typed access; throws DTypeMismatchError if T does not match dtype().
  template <class T>
  std::span<T> values() {
    check_dtype(dtype_of<T>);
    return {static_cast<T*>(data_), static_cast<std::size_t>(num_elements_)};
  }
  template <class T>
  std::span<const T> values() const {
    check_dtype(dtype_of<T>);
    return {static_cast<const T*>(data_), static_cast<std::size_t>(num_elements_)};
  }

  // Rows [begin, end) along the first dimension, sharing this tensor's memory (a view of a view,
  // shared ownership of owned memory). Throws InvalidArgumentError for a scalar or a bad range.
  Tensor slice_rows(std::int64_t begin, std::int64_t end) const;

  // True if the tensor neither owns nor shares ownership of its memory.
  bool is_view() const { return owner_ == nullptr; }
  Tensor clone() const;

  // "float32[2, 3]"
  std::string description() const;

 private:
  Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<const void> owner);
  void check_dtype(DType requested) const;
  void check_element_count(std::size_t given) const;

  DType dtype_ = DType::kFloat32;
  Shape shape_{0};
  std::int64_t num_elements_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<const void> owner_;
};

// A new tensor holding `parts` one after another along the first dimension. All parts need the
// same dtype and the same shape apart from the first dimension; throws DTypeMismatchError or
// ShapeMismatchError naming the part otherwise. `what` names the tensor in errors.
Tensor concat_rows(std::span<const Tensor> parts, const std::string& what = "tensor");

template <class T>
Tensor Tensor::from_values(Shape shape, std::span<const T> values) {
  Tensor tensor(dtype_of<T>, std::move(shape));
  tensor.check_element_count(values.size());
  std::copy(values.begin(), values.end(), static_cast<T*>(tensor.raw_data()));
  return tensor;
}

}  // namespace hepinfer
