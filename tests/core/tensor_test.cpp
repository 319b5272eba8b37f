#include <gtest/gtest.h>

#include <cstdint>
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

}  // namespace
}  // namespace hepinfer
