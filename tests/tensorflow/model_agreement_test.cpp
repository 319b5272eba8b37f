// Every test model family, loaded as SavedModel and as frozen graph, agrees with Python TF.

#include <gtest/gtest.h>

#include "hepinfer/core/npy.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer {
namespace {

struct ModelAndFormat {
  std::string model;
  std::string format;
  friend void PrintTo(const ModelAndFormat& param, std::ostream* out) { *out << param.model << " as " << param.format; }
};

class ModelAgreement : public ::testing::TestWithParam<ModelAndFormat> {
 protected:
  const test::TestModel& model() const { return test::test_model(GetParam().model); }
  const test::ModelFormatEntry& format() const { return model().formats.at(GetParam().format); }

  std::vector<NamedTensor> inputs_of(const test::ReferenceCase& reference) const {
    return test::reference_inputs(model(), GetParam().format, reference);
  }
};

TEST_P(ModelAgreement, MatchesPythonAtEveryBatchSize) {
  const auto loaded = tf::load_model(format().path);
  const std::vector<std::string> output_names = test::output_names(model(), GetParam().format);

  ASSERT_FALSE(model().cases.empty());
  for (const test::ReferenceCase& reference : model().cases) {
    SCOPED_TRACE("batch " + std::to_string(reference.batch));
    const std::vector<Tensor> outputs = loaded->run(inputs_of(reference), output_names);
    ASSERT_EQ(outputs.size(), model().outputs.size());
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      SCOPED_TRACE("output " + model().outputs[i]);
      EXPECT_EQ(outputs[i].rows(), reference.batch);
      EXPECT_TENSORS_MATCH(outputs[i], read_npy(reference.outputs.at(model().outputs[i])), model().tolerance);
    }
  }
}

TEST_P(ModelAgreement, MetadataDescribesTheReferenceTensors) {
  const auto loaded = tf::load_model(format().path);
  const ModelInfo& info = loaded->info();
  EXPECT_EQ(info.format, GetParam().format.starts_with("saved_model") ? "SavedModel" : "frozen GraphDef");
  EXPECT_EQ(info.backend, "tensorflow");
  const SignatureInfo& signature = info.signature(info.default_signature);
  EXPECT_EQ(signature.inputs.size(), model().inputs.size());
  EXPECT_EQ(signature.outputs.size(), model().outputs.size());

  const test::ReferenceCase& reference = model().cases.back();
  for (const std::string& logical : model().inputs) {
    std::string key = format().inputs.at(logical);
    if (key.ends_with(":0")) key.resize(key.size() - 2);
    const TensorInfo* input = signature.find_input(key);
    ASSERT_NE(input, nullptr) << key;
    const Tensor data = read_npy(reference.inputs.at(logical));
    EXPECT_EQ(input->dtype, data.dtype());
    EXPECT_TRUE(input->shape.accepts(data.shape())) << input->shape.to_string() << " vs " << data.description();
    EXPECT_EQ(input->shape[0], Shape::kUnknownDim) << "batch dimension should be unknown";
  }
}

TEST_P(ModelAgreement, EmptyOutputListReturnsEverySignatureOutput) {
  const auto loaded = tf::load_model(format().path);
  const SignatureInfo& signature = loaded->info().signature(loaded->info().default_signature);
  const std::vector<Tensor> outputs = loaded->run(inputs_of(model().cases.back()), {});
  ASSERT_EQ(outputs.size(), signature.outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    EXPECT_EQ(outputs[i].dtype(), signature.outputs[i].dtype);
    EXPECT_TRUE(signature.outputs[i].shape.accepts(outputs[i].shape()));
  }
}

std::vector<ModelAndFormat> all_models_and_formats() {
  std::vector<ModelAndFormat> params;
  for (const test::TestModel& model : test::test_models()) {
    for (const auto& [format, unused] : model.formats) params.push_back({model.name, format});
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelAgreement, ::testing::ValuesIn(all_models_and_formats()),
                         [](const auto& test_info) { return test_info.param.model + "_" + test_info.param.format; });

TEST(ModelNames, SavedModelAcceptsRawTensorNames) {
  const auto& mlp = test::test_model("mlp");
  const auto model = tf::load_model(mlp.formats.at("saved_model").path);
  const auto& reference = mlp.cases.back();
  const auto& signature = model->info().signature("serving_default");
  // "serving_default_x" means "serving_default_x:0".
  const auto by_raw_name =
      model->run({{"serving_default_x", read_npy(reference.inputs.at("x"))}}, {signature.outputs[0].tensor_name});
  const auto by_key = model->run({{"x", read_npy(reference.inputs.at("x"))}}, {"output_0"});
  EXPECT_TENSORS_MATCH(by_raw_name[0], by_key[0], 0.0);
}

TEST(ModelNames, OtherSignaturesAreSelectedPerRun) {
  const auto& mlp = test::test_model("mlp");
  const auto model = tf::load_model(mlp.formats.at("saved_model").path);
  const auto& reference = mlp.cases.back();
  RunOptions options;
  options.signature = "serve";  // Keras' export writes both "serve" and "serving_default"
  const auto outputs = model->run({{"x", read_npy(reference.inputs.at("x"))}}, {"output_0"}, options);
  EXPECT_TENSORS_MATCH(outputs[0], read_npy(reference.outputs.at("prob")), mlp.tolerance);
}

TEST(ModelNames, FrozenGraphNamesWithAndWithoutIndex) {
  const auto& tf1 = test::test_model("tf1_graph");
  const auto model = tf::load_model(tf1.formats.at("frozen_graph").path);
  const Tensor x = read_npy(tf1.cases.back().inputs.at("x"));
  const auto short_names = model->run({{"x", x}}, {"prob"});
  const auto full_names = model->run({{"x:0", x}}, {"prob:0"});
  EXPECT_TENSORS_MATCH(short_names[0], full_names[0], 0.0);
  // An intermediate tensor can be fetched by name, too.
  const auto hidden = model->run({{"x", x}}, {"hidden"});
  EXPECT_EQ(hidden[0].shape(), Shape({x.rows(), 16}));
}

}  // namespace
}  // namespace hepinfer
