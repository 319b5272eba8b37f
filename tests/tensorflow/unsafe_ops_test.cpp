// Models whose graphs can touch the file system or run code are refused unless the caller says
// otherwise; nothing of a refused model runs.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "error_message.h"
#include "hepinfer/core/error.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "test_models.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

TEST(UnsafeOps, EveryCraftedModelIsRefusedNamingTheOpAndNode) {
  ASSERT_EQ(test::unsafe_models().size(), 5u);
  for (const auto& [kind, entry] : test::unsafe_models()) {
    SCOPED_TRACE(kind);
    const test::UnsafeModel& model = entry;  // clang 14 cannot capture structured bindings
    const std::string message = test::error_message_of<PermissionDeniedError>([&] { tf::load_model(model.path); });
    EXPECT_NE(message.find("refusing op '" + model.op + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("node '"), std::string::npos) << message;
    EXPECT_NE(message.find(model.path), std::string::npos) << message;
  }
}

TEST(UnsafeOps, RefusalInsideAFunctionLibraryNamesTheFunction) {
  const test::UnsafeModel& model = test::unsafe_models().at("write_file_saved_model");
  const std::string message = test::error_message_of<PermissionDeniedError>([&] { tf::load_model(model.path); });
  EXPECT_NE(message.find("of function '__inference_serve"), std::string::npos) << message;
}

// The file a model writes when it runs: never by default, only with the option. In
// write_file_alternative nothing calls the function that writes it: grappler swaps it in for the
// one the signature calls, so functions no node calls are checked where they can run that way.
TEST(UnsafeOps, TheFileIsWrittenOnlyWhenUnsafeOpsAreAllowed) {
  for (const char* kind : {"write_file_frozen", "write_file_saved_model", "write_file_alternative"}) {
    SCOPED_TRACE(kind);
    const test::UnsafeModel& model = test::unsafe_models().at(kind);
    fs::remove(model.target);
    tf::LoadOptions defaults;
    defaults.warmup_runs = 2;  // would run the graph, were it loaded
    EXPECT_THROW(tf::load_model(model.path, defaults), PermissionDeniedError);
    EXPECT_FALSE(fs::exists(model.target));

    tf::LoadOptions trusting;
    trusting.allow_unsafe_ops = true;
    const auto loaded = tf::load_model(model.path, trusting);
    EXPECT_FALSE(fs::exists(model.target));  // loading alone runs nothing of the graph
    Tensor x(DType::kFloat32, {2, 4});
    const std::vector<Tensor> outputs = loaded->run({{model.input, x}}, {model.output});
    EXPECT_EQ(outputs.at(0).shape(), Shape({2, 4}));
    EXPECT_TRUE(fs::exists(model.target));
    fs::remove(model.target);
  }
}

TEST(UnsafeOps, ANamedOpCanBeAllowedAlone) {
  const test::UnsafeModel& model = test::unsafe_models().at("read_file_frozen");
  tf::LoadOptions options;
  options.allowed_ops = {"WriteFile"};  // not the one this model needs
  EXPECT_THROW(tf::load_model(model.path, options), PermissionDeniedError);
  options.allowed_ops = {"ReadFile"};
  EXPECT_NO_THROW(tf::load_model(model.path, options));
}

// A lookup table read from the model's own asset loads with the default policy (its agreement
// with Python is in ModelAgreement); one read from any other file is refused before the file is
// opened, naming the node and the path, and loads only when the user allows it.
TEST(FileTables, TheModelsOwnAssetIsReadByDefault) {
  const auto model = tf::load_model(test::test_model("vocab_table").formats.at("saved_model").path);
  const auto& details = model->info().load_details;
  EXPECT_TRUE(std::any_of(details.begin(), details.end(), [](const auto& d) {
    return d.first == "assets" && d.second.find("1 table initialisers") != std::string::npos;
  }));
}

TEST(FileTables, AnyOtherFileIsRefusedNamingThePathUnlessAllowed) {
  ASSERT_EQ(test::file_table_models().size(), 2u);
  for (const auto& [kind, entry] : test::file_table_models()) {
    SCOPED_TRACE(kind);
    const test::FileTableModel& model = entry;
    const std::string message = test::error_message_of<PermissionDeniedError>([&] { tf::load_model(model.path); });
    EXPECT_NE(message.find("InitializeTableFromTextFileV2"), std::string::npos) << message;
    EXPECT_NE(message.find(kind == "absolute_path" ? model.file : std::string("../../secret.txt")), std::string::npos)
        << message;

    tf::LoadOptions trusting;
    trusting.allowed_ops = {"InitializeTableFromTextFileV2"};
    const auto loaded = tf::load_model(model.path, trusting);
    Tensor ids(DType::kInt64, {1, 4});
    const auto id = ids.values<std::int64_t>();
    for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::int64_t>(3 * i + 1);
    const std::vector<Tensor> values = loaded->run({{"ids", ids}}, {"values"});
    ASSERT_EQ(values.at(0).shape(), Shape({1, 4}));
    EXPECT_FLOAT_EQ(values[0].values<float>()[2], (1000.0f + 7.0f) / 2);  // read from the file when allowed
  }
}

// A TF1 SavedModel exported from its training session holds the optimizer, its gradients, the
// moving-average updates and a summary beside the serving part. What the signature reaches is
// checked and runs (ModelAgreement compares it with Python); the rest is not checked, so runs may
// not fetch it, unless the model is trusted.
TEST(UnsafeOps, TheTrainingPartOfATf1ExportIsNeitherRefusedNorFetchable) {
  const std::string path = test::test_model("tf1_training").formats.at("saved_model").path;
  const auto model = tf::load_model(path);
  Tensor x(DType::kFloat32, {2, 6});
  EXPECT_EQ(model->run({{"x", x}}, {"prob"}).at(0).shape(), Shape({2, 1}));
  for (const char* unchecked : {"train", "loss:0", "save/SaveV2"}) {  // as make_test_models.py names them
    SCOPED_TRACE(unchecked);
    const std::string message =
        test::error_message_of<PermissionDeniedError>([&] { model->run({{"x", x}}, {unchecked}); });
    EXPECT_NE(message.find("no signature or init op reaches"), std::string::npos) << message;
    EXPECT_NE(message.find(unchecked), std::string::npos) << message;
  }
  tf::LoadOptions trusting;
  trusting.allow_unsafe_ops = true;
  const auto trusted = tf::load_model(path, trusting);
  Tensor labels(DType::kFloat32, {2, 1});
  EXPECT_EQ(trusted->run({{"x", x}, {"labels:0", labels}}, {"loss:0"}).at(0).shape(), Shape({}));
}

// TF1 SavedModels name their init op in a collection (the builder's main_op or legacy_init_op),
// not in a signature: the loader runs it as TF's own loader does, or the table would be empty.
TEST(FileTables, ATf1MainOpFillsItsTable) {
  const auto model = tf::load_model(test::special_model("tf1_table"));
  Tensor ids(DType::kInt64, {1, 3});
  const auto id = ids.values<std::int64_t>();
  id[0] = 1, id[1] = 3, id[2] = 7;
  const std::vector<Tensor> values = model->run({{"ids", ids}}, {"values"});
  ASSERT_EQ(values.at(0).shape(), Shape({1, 3}));
  EXPECT_FLOAT_EQ(values[0].values<float>()[0], 10.0f);
  EXPECT_FLOAT_EQ(values[0].values<float>()[1], 30.0f);
  EXPECT_FLOAT_EQ(values[0].values<float>()[2], -1.0f);
}

TEST(UnsafeOps, EveryOrdinaryTestModelPassesTheAllowlist) {
  for (const auto& model : test::test_models()) {
    for (const auto& [format, entry] : model.formats) {
      SCOPED_TRACE(model.name + " " + format);
      EXPECT_NO_THROW(tf::load_model(entry.path));
    }
  }
}

}  // namespace
}  // namespace hepinfer
