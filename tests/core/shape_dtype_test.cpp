#include <gtest/gtest.h>

#include "hepinfer/core/dtype.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/shape.h"

namespace hepinfer {
namespace {

TEST(DType, NamesRoundTrip) {
  for (DType dtype : kAllDTypes) {
    EXPECT_EQ(parse_dtype(dtype_name(dtype)), dtype);
  }
  EXPECT_FALSE(parse_dtype("bfloat16").has_value());
  EXPECT_FALSE(parse_dtype("uint32").has_value());
  EXPECT_EQ(dtype_size(DType::kFloat16), 2u);
  EXPECT_EQ(dtype_size(DType::kUInt8), 1u);
  EXPECT_EQ(dtype_of<std::uint16_t>, DType::kUInt16);
  EXPECT_EQ(dtype_size(DType::kFloat64), 8u);
  EXPECT_EQ(dtype_size(DType::kBool), 1u);
  EXPECT_EQ(dtype_of<std::int64_t>, DType::kInt64);
}

TEST(Shape, DescribesItself) {
  EXPECT_EQ(Shape({-1, 3}).to_string(), "[-1, 3]");
  EXPECT_EQ(Shape().to_string(), "[]");
  EXPECT_EQ(Shape::unknown_rank().to_string(), "<unknown rank>");
}

TEST(Shape, CountsElements) {
  EXPECT_EQ(Shape({2, 3, 4}).num_elements(), 24);
  EXPECT_EQ(Shape({0, 3}).num_elements(), 0);
  EXPECT_EQ(Shape().num_elements(), 1);
  EXPECT_THROW(Shape({-1, 3}).num_elements(), InvalidArgumentError);
  EXPECT_THROW(Shape({1LL << 40, 1LL << 40}).num_elements(), InvalidArgumentError);
}

TEST(Shape, AcceptsCompatibleConcreteShapes) {
  const Shape partial{-1, 3};
  EXPECT_TRUE(partial.accepts(Shape{5, 3}));
  EXPECT_TRUE(partial.accepts(Shape{0, 3}));
  EXPECT_FALSE(partial.accepts(Shape{5, 4}));
  EXPECT_FALSE(partial.accepts(Shape{5, 3, 1}));
  EXPECT_TRUE(Shape::unknown_rank().accepts(Shape{1, 2, 3}));
  EXPECT_TRUE(Shape().accepts(Shape()));
}

TEST(Error, CarriesItsCode) {
  try {
    throw ShapeMismatchError("input 'x': expected [-1, 3]");
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kShapeMismatch);
    EXPECT_EQ(error_code_name(error.code()), "shape mismatch");
    EXPECT_STREQ(error.what(), "input 'x': expected [-1, 3]");
  }
}

}  // namespace
}  // namespace hepinfer
