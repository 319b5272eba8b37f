// Inputs fed whole with every run (a scalar threshold, a fixed table beside an open batch): which
// inputs they are, and how runs over fixed batch sizes treat them.

#include "hepinfer/core/per_call_inputs.h"

#include <gtest/gtest.h>

#include "hepinfer/core/empty_batch.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/fixed_batches.h"

namespace hepinfer {
namespace {

TensorInfo input(std::string key, Shape shape) { return {key, key + ":0", DType::kFloat32, std::move(shape)}; }

// x [-1, 2], scale [], table [3, 2]: y = x * scale + table's first row (one output row per x row).
SignatureInfo scaled_signature() {
  return {"serving_default",
          {input("x", {-1, 2}), input("scale", Shape{}), input("table", {3, 2})},
          {input("y", {-1, 2})}};
}

Tensor filled(Shape shape, float start) {
  Tensor tensor(DType::kFloat32, std::move(shape));
  float value = start;
  for (float& element : tensor.values<float>()) element = value++;
  return tensor;
}

TEST(PerCallInputs, ScalarsAndFixedShapesBesideAnOpenBatchAreFedWhole) {
  const SignatureInfo signature = scaled_signature();
  EXPECT_FALSE(is_per_call_input(signature.inputs[0], signature));
  EXPECT_TRUE(is_per_call_input(signature.inputs[1], signature));
  EXPECT_TRUE(is_per_call_input(signature.inputs[2], signature));
  EXPECT_EQ(per_call_flags(signature), (std::vector<bool>{false, true, true}));
}

TEST(PerCallInputs, ComponentsOfRaggedOrSparseTensorsAreNeverRows) {
  TensorInfo values = input("values", {-1, 3}), splits = input("splits", {-1});
  values.composite_component = splits.composite_component = true;
  const SignatureInfo ragged{"serving_default", {values, splits}, {}};
  EXPECT_EQ(per_call_flags(ragged), (std::vector<bool>{true, true}));
  const SignatureInfo mixed{"serving_default", {values, input("x", {-1, 4}), input("table", {3, 4})}, {}};
  EXPECT_EQ(per_call_flags(mixed), (std::vector<bool>{true, false, true}));
  const SignatureInfo alone{"serving_default", {values, input("fixed", {1, 4})}, {}};
  EXPECT_EQ(per_call_flags(alone), (std::vector<bool>{true, false})) << "a component opens no batch";
}

TEST(PerCallInputs, AFixedBatchWithoutAnOpenOneIsTheBatch) {
  const SignatureInfo fixed{"serving_default", {input("x", {1, 16}), input("y", {1, 4})}, {}};
  EXPECT_FALSE(is_per_call_input(fixed.inputs[0], fixed));
  EXPECT_FALSE(is_per_call_input(fixed.inputs[1], fixed));
  const SignatureInfo unknown_rank{"serving_default", {input("x", Shape::unknown_rank()), input("t", {3})}, {}};
  EXPECT_FALSE(is_per_call_input(unknown_rank.inputs[0], unknown_rank));
  EXPECT_TRUE(is_per_call_input(unknown_rank.inputs[1], unknown_rank));
}

TEST(PerCallInputs, RunsNameInputsByKeyOrTensorName) {
  const SignatureInfo signature = scaled_signature();
  const std::vector<NamedTensor> inputs{{"table:0", Tensor(DType::kFloat32, {3, 2})},
                                        {"x", Tensor(DType::kFloat32, {3, 2})},
                                        {"unknown", Tensor(DType::kFloat32, {3, 2})},
                                        {"scale", Tensor(DType::kFloat32, Shape{})}};
  EXPECT_EQ(per_call_inputs(inputs, &signature), (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(per_call_inputs(inputs, nullptr), (std::vector<bool>{false, false, false, true}));
}

TEST(PerCallInputs, AnEmptyBatchIsJudgedByTheInputsThatFollowIt) {
  const SignatureInfo signature = scaled_signature();
  const std::vector<NamedTensor> inputs{{"x", Tensor(DType::kFloat32, {0, 2})},
                                        {"scale", Tensor(DType::kFloat32, Shape{})},
                                        {"table", Tensor(DType::kFloat32, {3, 2})}};
  EXPECT_TRUE(is_empty_batch(inputs, &signature));
  EXPECT_FALSE(is_empty_batch(inputs, nullptr));  // without the signature, the table looks like rows
  const std::vector<NamedTensor> probe = empty_batch_probe_inputs(inputs, &signature);
  EXPECT_EQ(probe[0].tensor.shape(), Shape({kEmptyBatchProbeRows, 2}));
  EXPECT_EQ(probe[2].tensor.shape(), Shape({3, 2}));
}

TEST(PerCallInputs, RunsOverFixedBatchSizesPadAndSplitOnlyTheRows) {
  const SignatureInfo signature = scaled_signature();
  const std::vector<std::int64_t> batch_sizes{2, 4};
  std::vector<std::int64_t> parts_rows;
  // A stand-in for a compiled function: it checks what it was given as a compiled program would.
  const RunOnBatchSize run_one = [&](std::size_t size_index, const BatchPart& part) {
    EXPECT_EQ(part.per_call, (std::vector<bool>{false, true, true}));
    EXPECT_LE(part.rows, batch_sizes[size_index]);
    EXPECT_EQ(part.inputs[0].rows(), part.rows);
    EXPECT_EQ(part.inputs[1].shape(), Shape{});
    EXPECT_EQ(part.inputs[2].shape(), Shape({3, 2}));
    parts_rows.push_back(part.rows);
    Tensor y(DType::kFloat32, {part.rows, 2});
    const auto x = part.inputs[0].values<float>();
    const float scale = part.inputs[1].values<float>()[0];
    const auto table = part.inputs[2].values<float>();
    for (std::size_t i = 0; i < x.size(); ++i) y.values<float>()[i] = x[i] * scale + table[i % 2];
    return std::vector<Tensor>{y};
  };
  // Seven rows: 4 + 3, and the table is 3 rows too, which must not be taken for the batch's.
  const std::vector<NamedTensor> inputs{{"x", filled({7, 2}, 0)}, {"scale", filled(Shape{}, 10)}, {"table", filled({3, 2}, 100)}};
  const std::vector<Tensor> outputs = run_signature_over_batch_sizes(signature, per_call_flags(signature), inputs, {}, batch_sizes,
                                                                    run_one, "m");
  EXPECT_EQ(parts_rows, (std::vector<std::int64_t>{4, 3}));
  ASSERT_EQ(outputs.size(), 1u);
  ASSERT_EQ(outputs[0].shape(), Shape({7, 2}));
  for (std::size_t i = 0; i < 14; ++i) {
    EXPECT_FLOAT_EQ(outputs[0].values<float>()[i], static_cast<float>(i) * 10.0f + 100.0f + static_cast<float>(i % 2));
  }
}

TEST(PerCallInputs, OnlyInputsThatFollowTheBatchMustShareItsRows) {
  const SignatureInfo signature{"serving_default", {input("a", {-1, 2}), input("table", {3, 2}), input("b", {-1, 2})}, {}};
  const std::vector<NamedTensor> inputs{
      {"a", Tensor(DType::kFloat32, {5, 2})}, {"table", Tensor(DType::kFloat32, {3, 2})}, {"b", Tensor(DType::kFloat32, {4, 2})}};
  try {
    run_signature_over_batch_sizes(signature, per_call_flags(signature), inputs, {}, std::vector<std::int64_t>{8},
                                   nullptr, "m.xla");
    FAIL() << "rows that disagree were accepted";
  } catch (const ShapeMismatchError& error) {
    EXPECT_STREQ(error.what(), "model 'm.xla': input 'b' has 4 rows, input 'a' 5; every input that follows the batch "
                               "needs the same rows");
  }
}

}  // namespace
}  // namespace hepinfer
