#pragma once
// Tensor shapes. Model metadata may leave dimensions unknown (-1) or the rank itself unknown;
// tensors holding data always have fully defined shapes.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace hepinfer {

class Shape {
 public:
  static constexpr std::int64_t kUnknownDim = -1;

  Shape() = default;  // a scalar: rank 0
  Shape(std::initializer_list<std::int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<std::int64_t> dims) : dims_(std::move(dims)) {}
  static Shape unknown_rank();

  bool rank_known() const { return rank_known_; }
  std::size_t rank() const { return dims_.size(); }
  const std::vector<std::int64_t>& dims() const { return dims_; }
  std::int64_t operator[](std::size_t axis) const { return dims_[axis]; }
  bool is_fully_defined() const;

  // Product of the dimensions; throws InvalidArgumentError if the shape is not fully defined,
  // a dimension is negative, or the product overflows.
  std::int64_t num_elements() const;

  // True if a tensor of the concrete shape `actual` fits this (possibly partial) shape.
  bool accepts(const Shape& actual) const;

  // "[-1, 3]"; "[]" for a scalar; "<unknown rank>".
  std::string to_string() const;

  friend bool operator==(const Shape&, const Shape&) = default;

 private:
  std::vector<std::int64_t> dims_;
  bool rank_known_ = true;
};

}  // namespace hepinfer
