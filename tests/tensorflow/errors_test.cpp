// Each failure is a typed hepinfer error whose message names the culprit.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <filesystem>
#include <fstream>

#include "hepinfer/core/npy.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "scratch_directory.h"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

// Runs `action`, expects it to throw exactly `ErrorType`, and returns the message.
template <class ErrorType, class Action>
std::string error_message(Action action) {
  try {
    action();
  } catch (const ErrorType& error) {
    return error.what();
  } catch (const std::exception& other) {
    ADD_FAILURE() << "wrong error type: " << other.what();
    return {};
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

#define EXPECT_MENTIONS(message, part) EXPECT_NE((message).find(part), std::string::npos) << (message)

class ModelErrors : public ::testing::Test {
 protected:

  fs::path write_file(const std::string& name, const std::string& contents) {
    const fs::path path = scratch_ / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }
  static std::string read_file(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }
  static std::string path_of(const std::string& model, const std::string& format) {
    return test::test_model(model).formats.at(format).path;
  }

  test::ScratchDirectory scratch_directory_;
  const fs::path& scratch_ = scratch_directory_.path();
};

TEST_F(ModelErrors, MissingFile) {
  const auto message = error_message<FileNotFoundError>([&] { tf::load_model(scratch_ / "absent.pb"); });
  EXPECT_MENTIONS(message, "absent.pb");
}

TEST_F(ModelErrors, DirectoryThatIsNotASavedModel) {
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(scratch_); });
  EXPECT_MENTIONS(message, scratch_.string());
  EXPECT_MENTIONS(message, "saved_model.pb");
}

TEST_F(ModelErrors, EmptyFile) {
  const auto path = write_file("empty.pb", "");
  EXPECT_MENTIONS(error_message<InvalidModelError>([&] { tf::load_model(path); }), "empty");
}

TEST_F(ModelErrors, FileThatIsNotAGraphDef) {
  const auto path = write_file("notes.pb", "These are not the bytes you are looking for.\n");
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(path); });
  EXPECT_MENTIONS(message, "notes.pb");
  EXPECT_MENTIONS(message, "GraphDef");
}

TEST_F(ModelErrors, TruncatedGraphDef) {
  const std::string bytes = read_file(path_of("mlp", "frozen_graph"));
  const auto path = write_file("truncated.pb", bytes.substr(0, bytes.size() / 2));
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(path); });
  EXPECT_MENTIONS(message, "truncated.pb");
}

TEST_F(ModelErrors, CorruptSavedModel) {
  const fs::path copy = scratch_ / "corrupt_saved_model";
  fs::copy(path_of("mlp", "saved_model"), copy, fs::copy_options::recursive);
  const std::string bytes = read_file(copy / "saved_model.pb");
  std::ofstream(copy / "saved_model.pb", std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 3);
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(copy); });
  EXPECT_MENTIONS(message, copy.string());
}

// A weight whose bytes changed on disk fails its checksum at load, frozen (read by hepinfer) or live
// (read by the session's restore nodes), naming the SavedModel and the variable.
TEST_F(ModelErrors, CorruptCheckpointDataIsRefusedNamingTheVariable) {
  const fs::path copy = scratch_ / "corrupt_checkpoint";
  fs::copy(path_of("mlp", "saved_model_tf_save"), copy, fs::copy_options::recursive);
  fs::path data;
  for (const auto& entry : fs::directory_iterator(copy / "variables")) {
    if (entry.path().filename().string().starts_with("variables.data")) data = entry.path();
  }
  ASSERT_FALSE(data.empty());
  std::string bytes = read_file(data);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);  // inside a 256x256 kernel
  std::ofstream(data, std::ios::binary | std::ios::trunc) << bytes;
  for (const std::int64_t limit : {std::int64_t{64} << 20, std::int64_t{0}}) {
    SCOPED_TRACE("freeze limit " + std::to_string(limit));
    tf::LoadOptions options;
    options.freeze_limit_bytes = limit;
    const auto message = error_message<InvalidModelError>([&] { tf::load_model(copy, options); });
    EXPECT_MENTIONS(message, copy.string());
    EXPECT_MENTIONS(message, "Checksum does not match");
    EXPECT_MENTIONS(message, "kernel");
  }
}

TEST_F(ModelErrors, SavedModelGraphFilePassedInsteadOfDirectory) {
  const fs::path file = fs::path(path_of("mlp", "saved_model")) / "saved_model.pb";
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(file); });
  EXPECT_MENTIONS(message, "load its directory");
}

TEST_F(ModelErrors, GraphWithVariablesIsNotFrozen) {
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(test::broken_model("unfrozen")); });
  EXPECT_MENTIONS(message, "not a frozen graph");
  EXPECT_MENTIONS(message, "w1");
}

TEST_F(ModelErrors, GraphWithUnknownOp) {
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(test::broken_model("unknown_op")); });
  EXPECT_MENTIONS(message, "HepinferNoSuchOp");
}

// tf.saved_model.save(model, dir, signatures=...) from Keras 3: the serving function's captured
// variables are bound to checkpoint values only through the object graph.
TEST_F(ModelErrors, CapturedVariablesAreBoundThroughTheObjectGraph) {
  const auto model = tf::load_model(path_of("mlp", "saved_model_tf_save"));
  const auto& details = model->info().load_details;
  const auto variables = std::find_if(details.begin(), details.end(), [](const auto& d) { return d.first == "variables"; });
  ASSERT_NE(variables, details.end());
  EXPECT_MENTIONS(variables->second, "10 captured variables bound through the object graph");
}

// Freezing at load (LoadOptions::freeze_variables, default on): read-only variables become
// constants; a variable the serving function writes stays live.
std::string variables_detail(const Model& model) {
  for (const auto& [name, value] : model.info().load_details) {
    if (name == "variables") return value;
  }
  return {};
}

TEST_F(ModelErrors, ReadOnlyVariablesAreFrozenAndTheSwitchKeepsThemLive) {
  const auto& mlp = test::test_model("mlp");
  const auto& reference = mlp.cases.back();
  for (const bool freeze : {true, false}) {
    SCOPED_TRACE(freeze ? "frozen" : "live");
    tf::LoadOptions options;
    options.freeze_variables = freeze;
    const auto model = tf::load_model(path_of("mlp", "saved_model_tf_save"), options);
    EXPECT_MENTIONS(variables_detail(*model), freeze ? "10 reads frozen into constants, 0 variables live"
                                                     : "0 reads frozen into constants, 10 variables live");
    const std::vector<Tensor> out = model->run({{"x", read_npy(reference.inputs.at("x"))}}, {"out0"});
    EXPECT_TENSORS_MATCH(out[0], read_npy(reference.outputs.at("prob")), 1e-5);
  }
}

// Freezing costs ~13 times the frozen bytes while the session is built, so it stops at
// LoadOptions::freeze_limit_bytes, the smallest variables first. The MLP's biases (4 x 1 KiB and
// 32 B) and its last kernel (8 KiB) fit in 40 KiB; the first kernel (32 KiB) and the three
// 256 KiB ones stay live.
TEST_F(ModelErrors, FreezingStopsAtItsLimitSmallestVariablesFirst) {
  const auto& mlp = test::test_model("mlp");
  const auto& reference = mlp.cases.back();
  tf::LoadOptions options;
  options.freeze_limit_bytes = 40 * 1024;
  const auto model = tf::load_model(path_of("mlp", "saved_model_tf_save"), options);
  // The live variables are read from the checkpoint straight into place; TF's restore through the
  // checkpoint's saver, which would fill other handles (Keras 3) and hold the weights twice, is not run.
  EXPECT_MENTIONS(variables_detail(*model), "6 reads frozen into constants, 4 variables live (4 not frozen: beyond the "
                                            "freeze limit of 40960 bytes); each live variable read from the checkpoint "
                                            "directly, its saver not run");
  const std::vector<Tensor> out = model->run({{"x", read_npy(reference.inputs.at("x"))}}, {"out0"});
  EXPECT_TENSORS_MATCH(out[0], read_npy(reference.outputs.at("prob")), 1e-5);
  options.freeze_limit_bytes = 0;
  const auto live = tf::load_model(path_of("mlp", "saved_model_tf_save"), options);
  EXPECT_MENTIONS(variables_detail(*live), "0 reads frozen into constants, 10 variables live");
  EXPECT_TENSORS_MATCH(live->run({{"x", read_npy(reference.inputs.at("x"))}}, {"out0"})[0],
                       read_npy(reference.outputs.at("prob")), 1e-5);
}

std::string load_detail(const Model& model, const std::string& key) {
  for (const auto& [name, value] : model.info().load_details) {
    if (name == key) return value;
  }
  return {};
}

// A frozen graph's weights are constants, which TF's optimizer copies once per pass: those beyond
// the freeze limit are held as variables, as a SavedModel's are (535 MB: 36 s and 7.5 GB to load
// as constants, 3.5 s and 1.4 GB so; docs/performance.md). A TF1 loop's constants, which depend on
// its frame, stay constants at any limit.
TEST_F(ModelErrors, FrozenGraphConstantsBeyondTheFreezeLimitAreHeldAsVariables) {
  const auto& mlp = test::test_model("mlp");  // kernels 32x256, 3 x 256x256, 256x8 (float32); biases < 1024 values
  const auto& reference = mlp.cases.back();
  const auto& format = mlp.formats.at("frozen_graph");
  const Tensor x = read_npy(reference.inputs.at("x"));
  tf::LoadOptions options;
  EXPECT_EQ(load_detail(*tf::load_model(format.path, options), "constants"), "") << "64 MiB holds them all";
  for (const std::int64_t limit : {std::int64_t{48} << 10, std::int64_t{0}}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    options.freeze_limit_bytes = limit;
    const auto model = tf::load_model(format.path, options);
    // The smallest stay constants: 8 KiB + 32 KiB fit in 48 KiB, the three 256 KiB kernels do not.
    EXPECT_MENTIONS(load_detail(*model, "constants"),
                    limit > 0 ? "3 large constants (786432 bytes) held as variables" : "5 large constants");
    const std::vector<Tensor> out = model->run({{format.inputs.at("x"), x}}, {format.outputs.at("prob")});
    EXPECT_TENSORS_MATCH(out[0], read_npy(reference.outputs.at("prob")), 1e-5);
  }
  const auto& lstm = test::test_model("lstm");  // Enter/Exit loops, frozen
  const auto& looped_format = lstm.formats.at("frozen_graph");
  options.freeze_limit_bytes = 0;
  const auto looped = tf::load_model(looped_format.path, options);
  const auto& last = lstm.cases.back();
  const std::vector<Tensor> got = looped->run({{looped_format.inputs.at("sequence"), read_npy(last.inputs.at("sequence"))}},
                                              {looped_format.outputs.at("out")});
  EXPECT_TENSORS_MATCH(got[0], read_npy(last.outputs.at("out")), 1e-5);
}

// Two signatures of one tf.Module read the same variables: both are frozen with the same values.
TEST_F(ModelErrors, TwoSignaturesSharingVariablesAgreeAfterFreezing) {
  const auto& shared = test::test_model("shared_module");
  const Tensor x = read_npy(shared.cases.back().inputs.at("x"));
  const auto model = tf::load_model(shared.formats.at("saved_model").path);
  const Tensor scores = model->run({{"x", x}}, {"scores"})[0];
  const Tensor probabilities = model->run({{"x", x}}, {"probabilities"}, {.signature = "probabilities"})[0];
  ASSERT_EQ(scores.shape(), probabilities.shape());
  const auto s = scores.values<float>();
  const auto p = probabilities.values<float>();
  for (std::int64_t row = 0; row < scores.rows(); ++row) {
    double total = 0;
    for (int c = 0; c < 3; ++c) total += std::exp(static_cast<double>(s[static_cast<std::size_t>(row * 3 + c)]));
    for (int c = 0; c < 3; ++c) {
      const auto i = static_cast<std::size_t>(row * 3 + c);
      EXPECT_NEAR(p[i], std::exp(static_cast<double>(s[i])) / total, 1e-6);
    }
  }
  EXPECT_MENTIONS(variables_detail(*model), "0 variables live");
}

TEST_F(ModelErrors, AVariableTheServingFunctionWritesStaysLive) {
  const auto model = tf::load_model(test::special_model("stateful_counter"));
  EXPECT_MENTIONS(variables_detail(*model), "1 variables live");
  Tensor x(DType::kFloat32, {1, 4});
  const float first = model->run({{"x", x}}, {"y"})[0].values<float>()[0];
  const float second = model->run({{"x", x}}, {"y"})[0].values<float>()[0];
  EXPECT_FLOAT_EQ(second, first + 1.0f);
}

TEST_F(ModelErrors, ACheckpointMissingAVariablesValueIsRefusedAtLoad) {
  const std::string path = test::broken_model("checkpoint_missing_value");
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(path); });
  EXPECT_MENTIONS(message, "variable 'dense_0/kernel'");
  EXPECT_MENTIONS(message, "variables.index");
  EXPECT_MENTIONS(message, "lacks");
}

TEST_F(ModelErrors, ACheckpointValueOfAnotherShapeIsRefusedAtLoad) {
  const std::string path = test::broken_model("checkpoint_wrong_shape");
  const auto message = error_message<InvalidModelError>([&] { tf::load_model(path); });
  EXPECT_MENTIONS(message, "variable 'dense_0/kernel' has shape [32,256]");
  EXPECT_MENTIONS(message, "[33,257]");
}

// tf.saved_model.save without signatures= writes a SavedModel nothing can be run from: say so,
// and how to save it, rather than that no signature "can run".
TEST_F(ModelErrors, ASavedModelWithoutSignaturesSaysHowToSaveOne) {
  const auto message =
      error_message<InvalidModelError>([&] { tf::load_model(test::special_model("no_signatures")); });
  EXPECT_MENTIONS(message, "has no signatures, so nothing says what to feed and fetch");
  EXPECT_MENTIONS(message, "signatures={'serving_default'");
}

// Signatures of dtypes hepinfer does not take (strings, bfloat16) are named with the tensor and
// its dtype, whether no signature is left, the one asked for is such a one, or others remain.
TEST_F(ModelErrors, SignaturesOfOtherDTypesAreNamedNotDropped) {
  const std::filesystem::path models = test::special_model("unsupported_dtypes");
  auto message = error_message<UnsupportedError>([&] { tf::load_model(models / "strings_only"); });
  EXPECT_MENTIONS(message, "has no signature hepinfer can run: signature 'serving_default': input 'text' has dtype string");
  EXPECT_MENTIONS(message, "hepinfer takes float16, float32");

  const auto model = tf::load_model(models / "mixed_signatures");
  EXPECT_EQ(model->info().default_signature, "serving_default");
  const auto& details = model->info().load_details;
  const auto left_out = std::find_if(details.begin(), details.end(), [](const auto& d) { return d.first == "signatures left out"; });
  ASSERT_NE(left_out, details.end());
  EXPECT_EQ(left_out->second,
            "signature 'bfloat16': output 'y' has dtype bfloat16 (Keras' mixed_bfloat16 policy: give the last layer "
            "dtype='float32'); signature 'by_name': input 'text' has dtype string");

  tf::LoadOptions options;
  options.signature = "by_name";
  message = error_message<UnsupportedError>([&] { tf::load_model(models / "mixed_signatures", options); });
  EXPECT_MENTIONS(message, "signature 'by_name': input 'text' has dtype string");

  // Not asked for a signature, hepinfer does not fall back on another than the default.
  message = error_message<UnsupportedError>([&] { tf::load_model(models / "default_strings"); });
  EXPECT_MENTIONS(message, "signature 'serving_default': input 'text' has dtype string");
  EXPECT_MENTIONS(message, "choose another with --signature (numbers)");
  options.signature = "numbers";
  EXPECT_EQ(tf::load_model(models / "default_strings", options)->info().default_signature, "numbers");

  message = error_message<UnsupportedError>([&] { tf::load_model(models / "string_placeholder.pb"); });
  EXPECT_MENTIONS(message, "input 'text' (string) has a dtype hepinfer cannot feed");
}

// Fed a sequence of no steps, TF's own convolution gives zeros 4 wide; oneDNN's returns its input,
// 6 wide, which hepinfer must refuse rather than pass on as the model's result.
TEST_F(ModelErrors, AResultOfAnotherShapeThanTheGraphGivesIsNeverPassedOn) {
  const auto model = tf::load_model(std::filesystem::path(test::special_model("zero_length")) / "saved_model");
  const Tensor no_steps(DType::kFloat32, {2, 0, 6});
  std::vector<Tensor> outputs;
  try {
    outputs = model->run({{"steps", no_steps}}, {});
  } catch (const BackendError& error) {
    EXPECT_TRUE(tf::onednn_enabled()) << "TF's own kernels keep the shape: " << error.what();
    EXPECT_MENTIONS(std::string(error.what()), "output 'summed'");
    EXPECT_MENTIONS(std::string(error.what()), "TensorFlow returned shape [2, 6], which the model's graph does not allow ([-1, 4])");
    return;
  }
  ASSERT_EQ(outputs.size(), 1u);
  ASSERT_EQ(outputs[0].shape(), Shape({2, 4}));
  for (float value : outputs[0].values<float>()) EXPECT_EQ(value, 0.0f);
}

TEST_F(ModelErrors, UnknownSignatureAtLoad) {
  tf::LoadOptions options;
  options.signature = "no_such_signature";
  const auto message = error_message<NotFoundError>([&] { tf::load_model(path_of("mlp", "saved_model"), options); });
  EXPECT_MENTIONS(message, "no_such_signature");
  EXPECT_MENTIONS(message, "serving_default");  // lists what is available
}

TEST_F(ModelErrors, UnknownSignatureAtRun) {
  const auto model = tf::load_model(path_of("tf1_graph", "saved_model"));
  RunOptions options;
  options.signature = "predict_v2";
  const auto message = error_message<NotFoundError>(
      [&] { model->run({{"x", Tensor(DType::kFloat32, {1, 8})}}, {"prob"}, options); });
  EXPECT_MENTIONS(message, "predict_v2");
}

TEST_F(ModelErrors, UnknownTags) {
  tf::LoadOptions options;
  options.tags = {"gpu_only"};
  const auto message = error_message<NotFoundError>([&] { tf::load_model(path_of("mlp", "saved_model"), options); });
  EXPECT_MENTIONS(message, "gpu_only");
}

TEST_F(ModelErrors, UnknownInputName) {
  for (const char* format : {"saved_model", "frozen_graph"}) {
    const auto model = tf::load_model(path_of("tf1_graph", format));
    const auto message =
        error_message<NotFoundError>([&] { model->run({{"features", Tensor(DType::kFloat32, {1, 8})}}, {"prob"}); });
    EXPECT_MENTIONS(message, "'features'");
    EXPECT_MENTIONS(message, "input");
  }
}

TEST_F(ModelErrors, UnknownOutputName) {
  const auto model = tf::load_model(path_of("tf1_graph", "frozen_graph"));
  const auto message =
      error_message<NotFoundError>([&] { model->run({{"x", Tensor(DType::kFloat32, {1, 8})}}, {"probability"}); });
  EXPECT_MENTIONS(message, "'probability'");
  EXPECT_MENTIONS(message, "output");
}

TEST_F(ModelErrors, DTypeMismatch) {
  for (const char* format : {"saved_model", "frozen_graph"}) {
    const auto model = tf::load_model(path_of("embedding", format));
    const std::string input = format == std::string("saved_model") ? "ids" : "ids:0";
    const auto message = error_message<DTypeMismatchError>([&] { model->run({{input, Tensor(DType::kInt32, {2, 12})}}, {}); });
    EXPECT_MENTIONS(message, "ids");
    EXPECT_MENTIONS(message, "expected dtype int64, got int32");
  }
}

TEST_F(ModelErrors, RankMismatch) {
  const auto model = tf::load_model(path_of("cnn", "saved_model"));
  const auto message =
      error_message<ShapeMismatchError>([&] { model->run({{"image", Tensor(DType::kFloat32, {2, 16, 16})}}, {}); });
  EXPECT_MENTIONS(message, "image");
  EXPECT_MENTIONS(message, "expected shape [-1, 16, 16, 3], got [2, 16, 16]");
}

TEST_F(ModelErrors, DimensionMismatch) {
  const auto model = tf::load_model(path_of("mlp", "frozen_graph"));
  const auto message =
      error_message<ShapeMismatchError>([&] { model->run({{"x", Tensor(DType::kFloat32, {4, 31})}}, {}); });
  EXPECT_MENTIONS(message, "expected shape [-1, 32], got [4, 31]");
}

TEST_F(ModelErrors, MissingSignatureInput) {
  const auto model = tf::load_model(path_of("multi_io", "saved_model"));
  const auto message =
      error_message<InvalidArgumentError>([&] { model->run({{"jets", Tensor(DType::kFloat32, {1, 10, 4})}}, {}); });
  EXPECT_MENTIONS(message, "'event'");
}

TEST_F(ModelErrors, InputFedTwice) {
  const auto model = tf::load_model(path_of("tf1_graph", "frozen_graph"));
  const Tensor x(DType::kFloat32, {1, 8});
  const auto message = error_message<InvalidArgumentError>([&] { model->run({{"x", x}, {"x:0", x}}, {"prob"}); });
  EXPECT_MENTIONS(message, "fed twice");
}

TEST_F(ModelErrors, TensorFlowsRunFailureKeepsItsCodeAndMessage) {
  // A raw intermediate tensor has no metadata, so the bad shape reaches TensorFlow, which answers
  // INVALID_ARGUMENT (a matrix product of mismatched sizes).
  const auto model = tf::load_model(path_of("tf1_graph", "frozen_graph"));
  const auto message = error_message<InvalidArgumentError>(
      [&] { model->run({{"hidden", Tensor(DType::kFloat32, {2, 3})}}, {"prob"}); });
  EXPECT_MENTIONS(message, path_of("tf1_graph", "frozen_graph"));
  EXPECT_MENTIONS(message, "running model");
}

TEST_F(ModelErrors, FailedRunLeavesTheModelUsable) {
  const auto& tf1 = test::test_model("tf1_graph");
  const auto model = tf::load_model(tf1.formats.at("frozen_graph").path);
  EXPECT_THROW(model->run({{"hidden", Tensor(DType::kFloat32, {2, 3})}}, {"prob"}), InvalidArgumentError);
  const auto outputs = model->run({{"x", read_npy(tf1.cases.back().inputs.at("x"))}}, {"prob"});
  EXPECT_EQ(outputs[0].rows(), tf1.cases.back().batch);
}

}  // namespace
}  // namespace hepinfer
