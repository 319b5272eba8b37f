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
