// Deciding how an empty batch is answered without running a model.

#include "hepinfer/core/empty_batch.h"

#include <gtest/gtest.h>

namespace hepinfer {
namespace {

TensorInfo info(Shape shape, DType dtype = DType::kFloat32) { return {"out", "out:0", dtype, std::move(shape)}; }

TEST(EmptyBatchDecision, EveryBatchedInputMustHaveZeroRows) {
  EXPECT_TRUE(is_empty_batch({{"x", Tensor(DType::kFloat32, {0, 4})}}, nullptr));
  EXPECT_TRUE(is_empty_batch({{"x", Tensor(DType::kFloat32, {0, 4})}, {"flag", Tensor(DType::kBool, Shape{})}}, nullptr));
  EXPECT_FALSE(is_empty_batch({{"x", Tensor(DType::kFloat32, {0, 4})}, {"y", Tensor(DType::kFloat32, {2, 4})}}, nullptr));
  EXPECT_FALSE(is_empty_batch({{"flag", Tensor(DType::kBool, Shape{})}}, nullptr));
  EXPECT_FALSE(is_empty_batch({}, nullptr));
}

TEST(EmptyBatchDecision, StaticShapesAnswerWhenOnlyTheBatchIsUnknown) {
  const TensorInfo prob = info({-1, 5}), ids = info({-1, 3, 2}, DType::kInt64);
  const auto outputs = empty_outputs_from_metadata({&prob, &ids});
  ASSERT_TRUE(outputs.has_value());
  EXPECT_EQ((*outputs)[0].shape(), Shape({0, 5}));
  EXPECT_EQ((*outputs)[1].shape(), Shape({0, 3, 2}));
  EXPECT_EQ((*outputs)[1].dtype(), DType::kInt64);
}

TEST(EmptyBatchDecision, StaticShapesDoNotAnswerWhatTheyDoNotKnow) {
  const TensorInfo unknown_rank = info(Shape::unknown_rank()), scalar = info(Shape{}), fixed_batch = info({1, 5}),
                   unknown_feature = info({-1, -1});
  for (const TensorInfo* output : {&unknown_rank, &scalar, &fixed_batch, &unknown_feature}) {
    EXPECT_FALSE(empty_outputs_from_metadata({output}).has_value()) << output->shape.to_string();
  }
  EXPECT_FALSE(empty_outputs_from_metadata({nullptr}).has_value());
}

TEST(EmptyBatchDecision, ProbeInputsHaveTheProbeRowsAndKeepScalars) {
  const auto probe = empty_batch_probe_inputs({{"x", Tensor(DType::kInt32, {0, 7})}, {"t", Tensor(DType::kFloat64, Shape{})}}, nullptr);
  ASSERT_EQ(probe.size(), 2u);
  EXPECT_EQ(probe[0].name, "x");
  EXPECT_EQ(probe[0].tensor.shape(), Shape({kEmptyBatchProbeRows, 7}));
  EXPECT_EQ(probe[0].tensor.dtype(), DType::kInt32);
  EXPECT_EQ(probe[1].tensor.shape(), Shape{});
}

TEST(EmptyBatchDecision, ProbeOutputsThatFollowTheBatchAreCutToZeroRows) {
  const auto outputs = empty_outputs_from_probe({Tensor(DType::kFloat32, {kEmptyBatchProbeRows, 16, 8})}, {nullptr});
  ASSERT_TRUE(outputs.has_value());
  EXPECT_EQ((*outputs)[0].shape(), Shape({0, 16, 8}));
}

TEST(EmptyBatchDecision, ProbeOutputsThatDoNotFollowTheBatchLeaveTheRunToTheModel) {
  EXPECT_FALSE(empty_outputs_from_probe({Tensor(DType::kFloat32, Shape{})}, {nullptr}).has_value());
  EXPECT_FALSE(empty_outputs_from_probe({Tensor(DType::kFloat32, {1, 4})}, {nullptr}).has_value());
  const TensorInfo fixed = info({kEmptyBatchProbeRows, 4});
  EXPECT_FALSE(empty_outputs_from_probe({Tensor(DType::kFloat32, {kEmptyBatchProbeRows, 4})}, {&fixed}).has_value());
}

}  // namespace
}  // namespace hepinfer
