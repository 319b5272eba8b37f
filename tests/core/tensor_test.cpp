#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hepinfer/core/error.h"
#include "hepinfer/core/tensor.h"

namespace hepinfer {
namespace {

TEST(Tensor, OwnsZeroedAlignedMemory) {
  Tensor tensor(DType::kFloat32, {3, 5});
  EXPECT_EQ(tensor.num_elements(), 15);
  EXPECT_EQ(tensor.byte_size(), 60u);
  EXPECT_EQ(tensor.rows(), 3);
  EXPECT_FALSE(tensor.is_view());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(tensor.raw_data()) % kTensorAlignment, 0u);
  for (float value : tensor.values<float>()) EXPECT_EQ(value, 0.0f);
}

TEST(Tensor, EmptyBatchHasValidData) {
  Tensor tensor(DType::kInt64, {0, 4});
  EXPECT_EQ(tensor.num_elements(), 0);
  EXPECT_NE(tensor.raw_data(), nullptr);
  EXPECT_TRUE(tensor.values<std::int64_t>().empty());
}

TEST(Tensor, RejectsPartialShapes) {
  EXPECT_THROW(Tensor(DType::kFloat32, {-1, 3}), InvalidArgumentError);
  EXPECT_THROW(Tensor(DType::kFloat32, Shape::unknown_rank()), InvalidArgumentError);
}

// Shapes whose size overflows, or whose memory is not there, fail with typed errors instead of
// wrapping around or escaping as std::bad_alloc.
TEST(Tensor, HugeShapesFailWithTypedErrors) {
  EXPECT_THROW(Tensor(DType::kFloat64, {std::int64_t{1} << 61, 8}), InvalidArgumentError);   // elements overflow
  EXPECT_THROW(Tensor(DType::kFloat64, {std::int64_t{1} << 61, 2}), InvalidArgumentError);   // bytes overflow
  try {
    Tensor(DType::kFloat32, {std::int64_t{1} << 42, 8});  // 128 TiB
    ADD_FAILURE() << "expected ResourceExhaustedError";
  } catch (const ResourceExhaustedError& error) {
    EXPECT_NE(std::string(error.what()).find("float32[4398046511104, 8]"), std::string::npos) << error.what();
  }
}

TEST(Tensor, TypedAccessChecksDType) {
  Tensor tensor(DType::kInt32, {2});
  EXPECT_NO_THROW(tensor.values<std::int32_t>());
  EXPECT_THROW(tensor.values<float>(), DTypeMismatchError);
}

TEST(Tensor, CopiesShareMemoryAndCloneDoesNot) {
  Tensor original = Tensor::from_values<float>({2}, std::vector<float>{1.0f, 2.0f});
  Tensor shallow = original;
  Tensor deep = original.clone();
  original.values<float>()[0] = 42.0f;
  EXPECT_EQ(shallow.values<float>()[0], 42.0f);
  EXPECT_EQ(deep.values<float>()[0], 1.0f);
}

TEST(Tensor, ViewsCallerMemory) {
  std::vector<double> storage = {1, 2, 3, 4, 5, 6};
  Tensor view = Tensor::view(DType::kFloat64, {2, 3}, storage.data());
  EXPECT_TRUE(view.is_view());
  storage[4] = -1;
  EXPECT_EQ(view.values<double>()[4], -1);
  EXPECT_THROW(Tensor::view(DType::kFloat64, {2, 3}, nullptr), InvalidArgumentError);
}

TEST(Tensor, SharedMemoryStaysAliveWithTheTensor) {
  auto buffer = std::make_shared<std::vector<std::int32_t>>(std::vector<std::int32_t>{7, 8, 9});
  Tensor tensor = Tensor::shared(DType::kInt32, {3}, buffer->data(), buffer);
  buffer.reset();
  EXPECT_EQ(tensor.values<std::int32_t>()[2], 9);
  EXPECT_FALSE(tensor.is_view());
}

TEST(Tensor, FromValuesChecksCount) {
  EXPECT_THROW(Tensor::from_values<float>({2, 2}, std::vector<float>{1, 2, 3}), ShapeMismatchError);
  const Tensor flags = Tensor::from_values({3}, std::vector<bool>{true, false, true});
  EXPECT_EQ(flags.dtype(), DType::kBool);
  EXPECT_FALSE(flags.values<bool>()[1]);
  EXPECT_EQ(flags.description(), "bool[3]");
}

TEST(Tensor, SliceRowsSharesMemory) {
  Tensor matrix = Tensor::from_values<std::int32_t>(Shape({4, 2}), {0, 1, 2, 3, 4, 5, 6, 7});
  const Tensor middle = matrix.slice_rows(1, 3);
  EXPECT_EQ(middle.shape(), Shape({2, 2}));
  EXPECT_EQ(middle.values<std::int32_t>()[0], 2);
  matrix.values<std::int32_t>()[2] = 42;
  EXPECT_EQ(middle.values<std::int32_t>()[0], 42) << "a slice shares its tensor's memory";
  EXPECT_FALSE(middle.is_view()) << "and keeps owned memory alive";
  EXPECT_EQ(matrix.slice_rows(4, 4).rows(), 0);
  EXPECT_THROW(matrix.slice_rows(3, 5), InvalidArgumentError);
  EXPECT_THROW(matrix.slice_rows(2, 1), InvalidArgumentError);
  EXPECT_THROW(Tensor(DType::kFloat32, Shape({})).slice_rows(0, 0), InvalidArgumentError);
}

TEST(Tensor, ConcatRowsJoinsPartsInOrder) {
  const Tensor a = Tensor::from_values<float>(Shape({1, 2}), {1, 2});
  const Tensor b = Tensor::from_values<float>(Shape({2, 2}), {3, 4, 5, 6});
  const Tensor empty(DType::kFloat32, Shape({0, 2}));
  const std::vector<Tensor> parts{a, empty, b};
  const Tensor joined = concat_rows(parts);
  EXPECT_EQ(joined.shape(), Shape({3, 2}));
  const auto values = joined.values<float>();
  EXPECT_EQ(std::vector<float>(values.begin(), values.end()), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  const std::vector<Tensor> wrong_width{a, Tensor(DType::kFloat32, Shape({1, 3}))};
  EXPECT_THROW(concat_rows(wrong_width), ShapeMismatchError);
  const std::vector<Tensor> wrong_dtype{a, Tensor(DType::kInt32, Shape({1, 2}))};
  EXPECT_THROW(concat_rows(wrong_dtype), DTypeMismatchError);
  EXPECT_THROW(concat_rows({}), InvalidArgumentError);
}

}  // namespace
}  // namespace hepinfer
