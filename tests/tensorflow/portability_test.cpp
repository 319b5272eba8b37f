// Behaviour that must not depend on the host CPU: empty batches (which TF's oneDNN kernels, on by
// default on CPUs with AVX-512 VNNI/BF16 or AMX, answer wrongly), the oneDNN state hepinfer
// reports, and SavedModels that lost their checkpoint.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "error_message.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "scratch_directory.h"
#include "test_models.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

struct ModelAndFormat {
  std::string model;
  std::string format;
  friend void PrintTo(const ModelAndFormat& param, std::ostream* out) { *out << param.model << " as " << param.format; }
};

class EmptyBatch : public ::testing::TestWithParam<ModelAndFormat> {};

// Every family, every format: inputs of 0 rows built from a non-empty case give outputs of 0 rows
// with the dtypes and trailing dimensions of that case's outputs.
TEST_P(EmptyBatch, GivesZeroRowOutputsShapedLikeAFullBatch) {
  const test::TestModel& model = test::test_model(GetParam().model);
  const auto loaded = tf::load_model(model.formats.at(GetParam().format).path);
  const test::ReferenceCase& full = model.cases.back();
  ASSERT_GT(full.batch, 0);
  std::vector<NamedTensor> inputs = test::reference_inputs(model, GetParam().format, full);
  for (NamedTensor& input : inputs) input.tensor = input.tensor.slice_rows(0, 0);

  const std::vector<Tensor> outputs = loaded->run(inputs, test::output_names(model, GetParam().format));
  ASSERT_EQ(outputs.size(), model.outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Tensor reference = read_npy(full.outputs.at(model.outputs[i]));
    std::vector<std::int64_t> expected = reference.shape().dims();
    expected[0] = 0;
    EXPECT_EQ(outputs[i].shape(), Shape(expected)) << model.outputs[i];
    EXPECT_EQ(outputs[i].dtype(), reference.dtype()) << model.outputs[i];
  }
}

std::vector<ModelAndFormat> every_model_and_format() {
  std::vector<ModelAndFormat> params;
  for (const test::TestModel& model : test::test_models()) {
    for (const auto& [format, unused] : model.formats) params.push_back({model.name, format});
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(EveryFamily, EmptyBatch, ::testing::ValuesIn(every_model_and_format()),
                         [](const auto& test_info) { return test_info.param.model + "_" + test_info.param.format; });

TEST(EmptyBatchProbe, ATensorNoSignatureDescribesStillGetsItsShape) {
  // No metadata for a raw intermediate tensor: hepinfer learns its shape from a two-row probe.
  // oneDNN's Conv2D would hand back its input here ([0, 16, 16, 3]).
  const test::IntermediateTensor& conv = test::intermediate_tensor("cnn");
  const test::TestModel& cnn = test::test_model("cnn");
  const auto loaded = tf::load_model(cnn.formats.at("frozen_graph").path);
  std::vector<NamedTensor> inputs = test::reference_inputs(cnn, "frozen_graph", cnn.cases.back());
  inputs[0].tensor = inputs[0].tensor.slice_rows(0, 0);
  const std::vector<Tensor> outputs = loaded->run(inputs, {conv.tensor});
  std::vector<std::int64_t> expected = conv.shape.dims();
  expected[0] = 0;
  EXPECT_EQ(outputs.at(0).shape(), Shape(expected));
}

TEST(EmptyBatchProbe, NonEmptyRunsOfTheSameTensorStillRunTheGraph) {
  const test::IntermediateTensor& conv = test::intermediate_tensor("cnn");
  const test::TestModel& cnn = test::test_model("cnn");
  const auto loaded = tf::load_model(cnn.formats.at("frozen_graph").path);
  const std::vector<NamedTensor> inputs = test::reference_inputs(cnn, "frozen_graph", cnn.cases.back());
  const std::vector<Tensor> outputs = loaded->run(inputs, {conv.tensor});
  std::vector<std::int64_t> expected = conv.shape.dims();
  expected[0] = inputs[0].tensor.rows();
  EXPECT_EQ(outputs.at(0).shape(), Shape(expected));
}

std::set<std::string> cpu_flags() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    return {std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
  }
  return {};
}

// TF's policy (tensorflow/core/util/port.cc, DefaultOneDnnPolicy on Linux x86): TF_ENABLE_ONEDNN_OPTS
// decides if set; otherwise oneDNN is on where the CPU has AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX.
TEST(OneDnn, ReportedStateFollowsTheEnvironmentAndTheCpu) {
  const char* setting = std::getenv("TF_ENABLE_ONEDNN_OPTS");
  bool expected = false;
  if (setting != nullptr) {
    const std::string value = setting;
    expected = value == "1" || value == "true" || value == "True" || value == "TRUE";
  } else {
    const std::set<std::string> flags = cpu_flags();
    for (const char* feature : {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"}) {
      expected = expected || flags.contains(feature);
    }
  }
  EXPECT_EQ(tf::onednn_enabled(), expected) << "TF_ENABLE_ONEDNN_OPTS=" << (setting ? setting : "(unset)");
}

TEST(OneDnn, TheGeneratorsAndTheRuntimeAgreeUnderTheSameSetting) {
  const test::GeneratorOneDnn& generator = test::generator_onednn();
  const char* setting = std::getenv("TF_ENABLE_ONEDNN_OPTS");
  const std::optional<std::string> now = setting ? std::optional<std::string>(setting) : std::nullopt;
  if (now != generator.setting) GTEST_SKIP() << "the references were generated under another TF_ENABLE_ONEDNN_OPTS";
  EXPECT_EQ(tf::onednn_enabled(), generator.enabled);
}

TEST(MissingCheckpoint, ASavedModelWithoutItsVariablesIsRefusedAtLoad) {
  test::ScratchDirectory scratch;
  const fs::path copy = scratch.path() / "saved_model";
  fs::copy(test::test_model("mlp").formats.at("saved_model").path, copy, fs::copy_options::recursive);
  fs::remove_all(copy / "variables");
  const std::string message = test::error_message_of<InvalidModelError>([&] { tf::load_model(copy); });
  EXPECT_NE(message.find(copy.string()), std::string::npos) << message;
  EXPECT_NE(message.find("variables.index"), std::string::npos) << message;
}

TEST(MissingCheckpoint, ASavedModelWithoutVariablesNeedsNoCheckpoint) {
  test::ScratchDirectory scratch;
  const fs::path copy = scratch.path() / "saved_model";
  fs::copy(test::test_model("dtypes").formats.at("saved_model").path, copy, fs::copy_options::recursive);
  fs::remove_all(copy / "variables");
  EXPECT_NO_THROW(tf::load_model(copy));
}

TEST(RegularFiles, AFrozenGraphThatIsADeviceIsRefusedNotRead) {
  const std::string message = test::error_message_of<InvalidArgumentError>([] { tf::load_model("/dev/zero"); });
  EXPECT_NE(message.find("/dev/zero"), std::string::npos) << message;
  EXPECT_NE(message.find("character device"), std::string::npos) << message;
}

}  // namespace
}  // namespace hepinfer
