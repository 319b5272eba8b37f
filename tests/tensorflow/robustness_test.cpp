// Rows of docs/robustness.md that no other test covers: values and sizes a model must survive.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "error_message.h"
#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/core/error.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "test_models.h"

namespace hepinfer {
namespace {

std::shared_ptr<const Model> mlp() {
  static const std::shared_ptr<const Model> model = tf::load_model(test::test_model("mlp").formats.at("frozen_graph").path);
  return model;
}

std::string mlp_input() { return test::test_model("mlp").formats.at("frozen_graph").inputs.at("x"); }

TEST(Robustness, NanAndInfInputsRunAndPropagate) {
  Tensor x(DType::kFloat32, {3, 32});
  auto values = x.values<float>();
  values[0] = std::numeric_limits<float>::quiet_NaN();                 // row 0: NaN
  values[32] = std::numeric_limits<float>::infinity();                 // row 1: +Inf
  values[64 + 5] = -std::numeric_limits<float>::infinity();            // row 2: -Inf
  const std::vector<Tensor> outputs = mlp()->run({{mlp_input(), x}}, {});
  ASSERT_EQ(outputs.at(0).shape(), Shape({3, 8}));
  const auto out = outputs[0].values<float>();
  EXPECT_TRUE(std::isnan(out[0]));  // softmax of NaN logits is NaN: reported, not hidden
  for (const float v : out) EXPECT_FALSE(std::isinf(v) && v > 1.0f);
}

TEST(Robustness, ABatchAboveEveryLimitIsSplitNotRejected) {
  batching::DynamicBatcher batcher(mlp(), {.max_batch_rows = 8, .max_delay = std::chrono::microseconds(0)});
  Tensor x(DType::kFloat32, {1000, 32});
  const std::vector<Tensor> outputs = batcher.run({{mlp_input(), x}}, {});
  EXPECT_EQ(outputs.at(0).shape(), Shape({1000, 8}));
}

TEST(Robustness, AnInputWithoutRowsOrWithTheWrongRankIsATypedError) {
  EXPECT_THROW(mlp()->run({{mlp_input(), Tensor(DType::kFloat32, Shape{})}}, {}), ShapeMismatchError);
  EXPECT_THROW(mlp()->run({{mlp_input(), Tensor(DType::kFloat32, {2, 32, 1})}}, {}), ShapeMismatchError);
}

TEST(Robustness, NoInputsAtAllNamesTheMissingOne) {
  const std::string message = test::error_message_of<Error>([] { mlp()->run({}, {}); });
  EXPECT_NE(message.find("x"), std::string::npos) << message;
}

TEST(Robustness, ADirectoryIsNotAFrozenGraphAndAFileIsNotASavedModel) {
  EXPECT_THROW(tf::load_model(test::test_models_dir()), InvalidModelError);
  EXPECT_THROW(tf::load_model(test::test_models_dir() + "/manifest.json"), InvalidModelError);
}

}  // namespace
}  // namespace hepinfer
