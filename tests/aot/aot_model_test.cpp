// The AOT backend on every test model family compiled by tools/make_aot_models.py (batch sizes 1
// and 4): agreement with Python TensorFlow at batch 0, 1 and 5 (padded and split), the Model
// contract, no thread of its own, concurrency, and packages that are broken on purpose.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "error_message.h"
#include "hepinfer/aot/aot_model.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"
#include "nlohmann/json.hpp"
#include "process_threads.h"
#include "scratch_directory.h"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

// XLA fuses and reorders float arithmetic; results agree with TF to ~1e-6 relative.
constexpr double kAotTolerance = 2e-5;

nlohmann::json aot_index() {
  std::ifstream file(fs::path(HEPINFER_AOT_MODELS_DIR) / "index.json");
  return nlohmann::json::parse(file);
}

std::string index_key(const std::string& format) { return format == "saved_model" ? "packages" : "frozen_packages"; }

std::vector<std::string> compiled_families(const std::string& format = "saved_model") {
  const nlohmann::json index = aot_index();
  std::vector<std::string> names;
  for (const auto& [name, unused] : index.at(index_key(format)).items()) names.push_back(name);
  return names;
}

fs::path package_of(const std::string& family, const std::string& format = "saved_model") {
  return fs::path(HEPINFER_AOT_MODELS_DIR) / aot_index().at(index_key(format)).at(family).get<std::string>();
}

TEST(AotPackages, EveryTestFamilyCompilesRecurrentOnesIncluded) {
  const nlohmann::json index = aot_index();
  // Lookup tables are state XLA cannot compile; refused at compile time, naming the op.
  for (const auto& [name, reason] : index.at("refused").items()) {
    EXPECT_EQ(name, "vocab_table") << reason;
    EXPECT_NE(reason.get<std::string>().find("Table"), std::string::npos) << reason;
  }
  for (const test::TestModel& model : test::test_models()) {
    if (model.formats.contains("saved_model") && model.name != "vocab_table") {
      EXPECT_TRUE(index.at("packages").contains(model.name)) << model.name;
    }
  }
  EXPECT_TRUE(index.at("packages").contains("lstm"));
  EXPECT_TRUE(index.at("packages").contains("conv_gru"));
}

// The package compiled for x86-64-v3 and x86-64-v4 (make_aot_models.py).
fs::path multi_level_package() {
  return fs::path(HEPINFER_AOT_MODELS_DIR) / aot_index().at("multi_level").at("package").get<std::string>();
}

// Whether this CPU has x86-64-v4's features beyond x86-64-v3's.
bool host_has_avx512() {
  const std::vector<std::string> host = aot::host_cpu_features();
  const std::vector<std::string> avx512{"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"};
  return std::all_of(avx512.begin(), avx512.end(), [&](const std::string& feature) {
    return std::find(host.begin(), host.end(), feature) != host.end();
  });
}

void expect_agreement(const std::string& family, const std::string& format, const fs::path& package) {
  const test::TestModel& model = test::test_model(family);
  const auto loaded = aot::load_model(package);
  EXPECT_EQ(loaded->info().backend, "aot");
  const std::vector<std::string> outputs = test::output_names(model, format);
  for (const test::ReferenceCase& reference : model.cases) {
    SCOPED_TRACE("batch " + std::to_string(reference.batch));
    const std::vector<Tensor> got = loaded->run(test::reference_inputs(model, format, reference), outputs);
    ASSERT_EQ(got.size(), model.outputs.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE("output " + model.outputs[i]);
      EXPECT_EQ(got[i].rows(), reference.batch);
      EXPECT_TENSORS_MATCH(got[i], read_npy(reference.outputs.at(model.outputs[i])),
                           std::max(model.tolerance, model.tolerance > 0 ? kAotTolerance : 0.0));
    }
  }
}

class AotAgreement : public ::testing::TestWithParam<std::string> {};
TEST_P(AotAgreement, MatchesPythonAtEveryBatchSize) {
  expect_agreement(GetParam(), "saved_model", package_of(GetParam()));
}
INSTANTIATE_TEST_SUITE_P(EveryFamily, AotAgreement, ::testing::ValuesIn(compiled_families()),
                         [](const auto& test_info) { return test_info.param; });

class AotFrozenGraphAgreement : public ::testing::TestWithParam<std::string> {};
TEST_P(AotFrozenGraphAgreement, MatchesPythonAtEveryBatchSize) {
  expect_agreement(GetParam(), "frozen_graph", package_of(GetParam(), "frozen_graph"));
}
INSTANTIATE_TEST_SUITE_P(FrozenGraphs, AotFrozenGraphAgreement, ::testing::ValuesIn(compiled_families("frozen_graph")),
                         [](const auto& test_info) { return test_info.param; });

Tensor mlp_input(std::int64_t rows) {
  const Tensor five = read_npy(test::test_model("mlp").cases.back().inputs.at("x"));  // 5 rows
  std::vector<Tensor> parts;
  for (std::int64_t done = 0; done < rows; done += 5) parts.push_back(five.slice_rows(0, std::min<std::int64_t>(5, rows - done)));
  return concat_rows(parts);
}

TEST(AotModel, PaddedSplitAndUnalignedRunsEqualRowByRowRuns) {
  const auto model = aot::load_model(package_of("mlp"));
  const Tensor nine = mlp_input(9);
  const std::vector<Tensor> all = model->run({{"x", nine}}, {});  // 4 + 4 + 1
  ASSERT_EQ(all[0].rows(), 9);
  for (std::int64_t row = 0; row < 9; ++row) {
    // Rows after the first are not 64-byte aligned: staged, not read in place.
    const std::vector<Tensor> one = model->run({{"x", nine.slice_rows(row, row + 1)}}, {});
    EXPECT_TENSORS_MATCH(all[0].slice_rows(row, row + 1), one[0], 1e-6);
  }
  const std::vector<Tensor> two = model->run({{"x", nine.slice_rows(0, 2)}}, {});  // padded to 4
  EXPECT_TENSORS_MATCH(two[0], all[0].slice_rows(0, 2), 1e-6);
  const std::vector<Tensor> three = model->run({{"x", nine.slice_rows(5, 8)}}, {});  // padded, unaligned
  EXPECT_TENSORS_MATCH(three[0], all[0].slice_rows(5, 8), 1e-6);
  const std::vector<Tensor> large = model->run({{"x", mlp_input(1000)}}, {});
  EXPECT_EQ(large[0].rows(), 1000);
  EXPECT_TENSORS_MATCH(large[0].slice_rows(995, 1000), all[0].slice_rows(0, 5), 1e-6);
}

TEST(AotModel, NamedOutputsAndGraphTensorNamesOfFrozenGraphs) {
  const test::TestModel& multi_io = test::test_model("multi_io");
  const auto model = aot::load_model(package_of("multi_io", "frozen_graph"));
  const test::ReferenceCase& reference = multi_io.cases.back();
  const std::vector<std::string> names = test::output_names(multi_io, "frozen_graph");
  ASSERT_GE(names.size(), 2u);
  const std::vector<Tensor> second = model->run(test::reference_inputs(multi_io, "frozen_graph", reference),
                                                {names[1]});
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TENSORS_MATCH(second[0], read_npy(reference.outputs.at(multi_io.outputs[1])), kAotTolerance);
}

// No names: every output in the signature's order; names: those outputs, in the order asked.
TEST(AotModel, EmptyOutputListGivesEveryOutputInSignatureOrder) {
  const test::TestModel& multi_io = test::test_model("multi_io");
  const auto model = aot::load_model(package_of("multi_io"));
  const test::ReferenceCase& reference = multi_io.cases.back();
  const auto inputs = test::reference_inputs(multi_io, "saved_model", reference);
  const std::vector<std::string> names = test::output_names(multi_io, "saved_model");
  ASSERT_EQ(names.size(), 2u);
  const std::vector<Tensor> every = model->run(inputs, {});
  ASSERT_EQ(every.size(), model->info().signature(model->info().default_signature).outputs.size());
  const std::vector<Tensor> reversed = model->run(inputs, {names[1], names[0]});
  ASSERT_EQ(reversed.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE("output " + multi_io.outputs[i]);
    const Tensor expected = read_npy(reference.outputs.at(multi_io.outputs[i]));
    const auto& signature_outputs = model->info().signature(model->info().default_signature).outputs;
    const auto position = std::find_if(signature_outputs.begin(), signature_outputs.end(),
                                       [&](const TensorInfo& info) { return info.key == names[i]; });
    ASSERT_NE(position, signature_outputs.end());
    EXPECT_TENSORS_MATCH(every[static_cast<std::size_t>(position - signature_outputs.begin())], expected, kAotTolerance);
    EXPECT_TENSORS_MATCH(reversed[1 - i], expected, kAotTolerance);
  }
}

TEST(AotModel, RunsOnTheCallersThreadAndNeverStartsOne) {
  const std::size_t before = test::thread_count();
  const auto model = aot::load_model(package_of("lstm"), {.warmup_runs = 2, .warmup_batch_sizes = {1, 4, 9}});
  const test::TestModel& lstm = test::test_model("lstm");
  for (int i = 0; i < 200; ++i) {
    for (const test::ReferenceCase& reference : lstm.cases) model->run(test::reference_inputs(lstm, "saved_model", reference), {});
  }
  EXPECT_EQ(test::thread_count_settled(before), before);
  EXPECT_EQ(model->info().threading, ThreadingMode::kInline);
  EXPECT_EQ(model->info().batch_sizes, (std::vector<std::int64_t>{1, 4})) << "the package's compiled sizes";
  // One caller at a time: one instance per batch size it used, however many runs.
  EXPECT_EQ(*aot::pooled_instances(*model), 2u);
}

TEST(AotModel, SixtyFourThreadsShareOneModel) {
  const test::TestModel& mlp = test::test_model("mlp");
  const auto model = aot::load_model(package_of("mlp"));
  const Tensor x = read_npy(mlp.cases.back().inputs.at("x"));
  const Tensor expected = read_npy(mlp.cases.back().outputs.at("prob"));
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        try {
          const std::int64_t begin = (t + i) % 3;
          const std::int64_t rows = 1 + (t + i) % (5 - begin);
          const std::vector<Tensor> out = model->run({{"x", x.slice_rows(begin, begin + rows)}}, {});
          if (!test::tensors_match(out[0], expected.slice_rows(begin, begin + rows), kAotTolerance)) ++mismatches;
        } catch (const Error&) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(*aot::pooled_instances(*model), 2u * 64u);  // at most one per concurrent caller and batch size
}

TEST(AotModel, InputsAreCheckedBeforeTheCompiledFunctionSeesThem) {
  const auto model = aot::load_model(package_of("multi_io"));
  const Tensor jets(DType::kFloat32, {2, 10, 4}), event(DType::kFloat32, {2, 6});
  EXPECT_THROW(model->run({{"jets", jets}}, {}), InvalidArgumentError);  // event missing
  EXPECT_THROW(model->run({{"jets", jets}, {"event", event}, {"extra", event}}, {}), NotFoundError);
  EXPECT_THROW(model->run({{"jets", Tensor(DType::kInt32, {2, 10, 4})}, {"event", event}}, {}), DTypeMismatchError);
  EXPECT_THROW(model->run({{"jets", Tensor(DType::kFloat32, {2, 9, 4})}, {"event", event}}, {}), ShapeMismatchError);
  EXPECT_THROW(model->run({{"jets", jets}, {"event", Tensor(DType::kFloat32, {3, 6})}}, {}), ShapeMismatchError);
  EXPECT_THROW(model->run({{"jets", jets}, {"event", event}}, {"no_such_output"}), NotFoundError);
}

TEST(AotModel, DescribesItsPackage) {
  const auto model = aot::load_model(package_of("mlp"));
  const std::optional<aot::PackageInfo> package = aot::package_info(*model);
  ASSERT_TRUE(package.has_value());
  EXPECT_EQ(package->batch_sizes, (std::vector<std::int64_t>{1, 4}));
  EXPECT_EQ(package->cpu_level, aot_index().at("target_cpu").get<std::string>());  // x86-64-v3 unless configured
  EXPECT_NE(std::find(package->cpu_features.begin(), package->cpu_features.end(), "avx2"), package->cpu_features.end());
  EXPECT_TRUE(aot::is_aot_package(package_of("mlp")));
  EXPECT_FALSE(aot::is_aot_package(fs::path(HEPINFER_AOT_MODELS_DIR)));
  EXPECT_FALSE(aot::host_cpu_features().empty());
  const Placement on_gpu{.module = "tagger", .devices = {0}, .memory_mib = {1024}};
  const auto placed = aot::load_model(package_of("mlp"), {.placement = on_gpu});
  EXPECT_NE(placed->info().placement_note.find("GPU 0"), std::string::npos) << placed->info().placement_note;
  EXPECT_FALSE(placed->info().gpu.has_value());
}

TEST(AotModel, APackageOfSeveralLevelsLoadsTheHighestThisCpuHas) {
  const auto model = aot::load_model(multi_level_package());
  const std::optional<aot::PackageInfo> package = aot::package_info(*model);
  ASSERT_TRUE(package.has_value());
  EXPECT_EQ(package->compiled_levels, (std::vector<std::string>{"x86-64-v3", "x86-64-v4"}));
  const bool avx512 = host_has_avx512();
  EXPECT_EQ(package->cpu_level, avx512 ? "x86-64-v4" : "x86-64-v3");
  EXPECT_EQ(package->library.filename(), avx512 ? "model.x86-64-v4.so" : "model.so");
  EXPECT_EQ(std::find(package->cpu_features.begin(), package->cpu_features.end(), "avx512f") !=
                package->cpu_features.end(),
            avx512);
  bool described = false;
  for (const auto& [key, value] : model->info().load_details) {
    if (key == "target CPU") described = value.find("of x86-64-v3, x86-64-v4") != std::string::npos;
  }
  EXPECT_TRUE(described) << "the load details name the package's levels";
  expect_agreement("mlp", "saved_model", multi_level_package());
}

// A copy of a package to damage.
class DamagedPackage : public ::testing::Test {
 protected:
  fs::path copy_of(const std::string& family) { return copy_of_package(package_of(family), family + ".aot"); }
  fs::path copy_of_package(const fs::path& package, const std::string& name) {
    const fs::path copy = scratch_.path() / name;
    fs::copy(package, copy, fs::copy_options::recursive);
    return copy;
  }
  static nlohmann::json manifest_of(const fs::path& package) {
    std::ifstream file(package / "manifest.json");
    return nlohmann::json::parse(file);
  }
  static void write_manifest(const fs::path& package, const nlohmann::json& manifest) {
    std::ofstream(package / "manifest.json") << manifest.dump(2);
  }
  // Loading `package` with `original` edited at `field` (a JSON pointer) is InvalidModelError
  // whose message contains `named`.
  static void expect_refused_with(const fs::path& package, const nlohmann::json& original, const std::string& field,
                                  const nlohmann::json& value, const std::string& named) {
    SCOPED_TRACE(field);
    nlohmann::json manifest = original;
    manifest[nlohmann::json::json_pointer(field)] = value;
    write_manifest(package, manifest);
    const std::string message = test::error_message_of<InvalidModelError>([&] { aot::load_model(package); });
    EXPECT_NE(message.find(named), std::string::npos) << message;
  }
  // Replaces the library by `library` and makes the manifest's size agree.
  static void replace_library(const fs::path& package, const fs::path& library) {
    fs::copy_file(library, package / "model.so", fs::copy_options::overwrite_existing);
    nlohmann::json manifest = manifest_of(package);
    manifest["library"]["bytes"] = fs::file_size(package / "model.so");
    write_manifest(package, manifest);
  }

  test::ScratchDirectory scratch_;
};

TEST_F(DamagedPackage, ATruncatedLibraryIsRefusedBeforeItIsOpened) {
  const fs::path package = copy_of("mlp");
  fs::resize_file(package / "model.so", fs::file_size(package / "model.so") / 2);
  const std::string message = test::error_message_of<InvalidModelError>([&] { aot::load_model(package); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  // Even with a manifest that agrees on the size, the loader says what is wrong.
  nlohmann::json manifest = manifest_of(package);
  manifest["library"]["bytes"] = fs::file_size(package / "model.so");
  write_manifest(package, manifest);
  const std::string opened = test::error_message_of<InvalidModelError>([&] { aot::load_model(package); });
  EXPECT_NE(opened.find("model.so"), std::string::npos) << opened;
}

TEST_F(DamagedPackage, AnEditedManifestDisagreesWithTheLibrary) {
  const fs::path package = copy_of("multi_io");
  const nlohmann::json original = manifest_of(package);
  const auto expect_refused = [&](const std::string& field, const nlohmann::json& value, const std::string& named) {
    expect_refused_with(package, original, field, value, named);
  };
  expect_refused("/inputs/0/shape/1", 11, "the inputs");
  expect_refused("/outputs/0/dtype", "float64", "the outputs");
  expect_refused("/batch_sizes", nlohmann::json::array({1, 8}), "the batch sizes");
  expect_refused("/package_id", "0123", "the package id");
  expect_refused("/library/file", "../elsewhere.so", "library.file");
  expect_refused("/batch_sizes", nlohmann::json::array({4, 1}), "increasing");
  expect_refused("/inputs/0/dtype", "string", "inputs[0].dtype");
  std::ofstream(package / "manifest.json") << "{\"format\": \"hepinfer-aot\", ";
  EXPECT_THROW(aot::load_model(package), InvalidModelError);
}

TEST_F(DamagedPackage, MissingCpuFeaturesAreRefusedBeforeAnyOfItsCodeRuns) {
  const fs::path package = copy_of("mlp");
  nlohmann::json manifest = manifest_of(package);
  manifest["target"]["cpu_features"].push_back("hepinfer_no_such_feature");
  write_manifest(package, manifest);
  const std::string message = test::error_message_of<UnsupportedError>([&] { aot::load_model(package); });
  EXPECT_NE(message.find("hepinfer_no_such_feature"), std::string::npos) << message;
  EXPECT_NE(message.find("--target-cpu"), std::string::npos) << message;
}

TEST_F(DamagedPackage, AVariantThisCpuLacksIsPassedOverAndEditedOrMalformedOnesAreRefused) {
  const fs::path package = copy_of_package(multi_level_package(), "levels.aot");
  const nlohmann::json original = manifest_of(package);
  ASSERT_EQ(original.at("variants").size(), 1u);

  nlohmann::json manifest = original;
  manifest["variants"][0]["target"]["cpu_features"].push_back("hepinfer_no_such_feature");
  write_manifest(package, manifest);
  EXPECT_EQ(aot::package_info(*aot::load_model(package))->cpu_level, "x86-64-v3");

  if (host_has_avx512()) {  // the variant is opened only where its code can run
    manifest = original;
    nlohmann::json& features = manifest["variants"][0]["target"]["cpu_features"];
    features.erase(features.end() - 1);
    write_manifest(package, manifest);
    const std::string edited = test::error_message_of<InvalidModelError>([&] { aot::load_model(package); });
    EXPECT_NE(edited.find("CPU features"), std::string::npos) << edited;
    EXPECT_NE(edited.find("model.x86-64-v4.so"), std::string::npos) << edited;
  }

  const auto expect_refused = [&](const std::string& field, const nlohmann::json& value, const std::string& named) {
    expect_refused_with(package, original, field, value, named);
  };
  expect_refused("/variants", "x86-64-v4", "variants");
  expect_refused("/variants/0", 4, "variants[0]");
  expect_refused("/variants/0/library/file", "../elsewhere.so", "variants[0].library.file");
  expect_refused("/variants/0/target/cpu_features", nlohmann::json::array({"avx2", 7}),
                 "variants[0].target.cpu_features");
  expect_refused("/variants/0/library/bytes", "many", "variants[0].library.bytes");
}

// What `compile --tune` chose is shown by the model's details; a malformed record is refused, naming
// its field.
TEST_F(DamagedPackage, ATuningRecordIsShownAndAMalformedOneIsRefused) {
  const fs::path package = copy_of("mlp");
  const nlohmann::json original = manifest_of(package);
  const std::string level = original["target"]["cpu"];
  nlohmann::json tuned = original;
  std::string expected;
  for (const auto& size : original["batch_sizes"]) {
    const std::string batch = std::to_string(size.get<std::int64_t>());
    tuned["tuning"][level][batch] = {{"chosen", "dot tiling 4"},
                                     {"median_us", {{"default", 2.0}, {"dot tiling 4", 1.0}}}};
    expected += (expected.empty() ? "" : "; ") + batch + ": dot tiling 4";
  }
  const auto detail_of = [&](const nlohmann::json& manifest) {
    write_manifest(package, manifest);
    const auto model = aot::load_model(package);
    for (const auto& [name, value] : model->info().load_details) {
      if (name.rfind("tuned", 0) == 0) return value;
    }
    return std::string("(no tuning detail)");
  };
  EXPECT_EQ(detail_of(tuned), expected);
  nlohmann::json skipped = original;
  skipped["tuning"][level] = {{"skipped", "this CPU lacks avx512f: cannot time x86-64-v4 code"}};
  EXPECT_EQ(detail_of(skipped), "not tuned: this CPU lacks avx512f: cannot time x86-64-v4 code");
  EXPECT_EQ(detail_of(original), "(no tuning detail)");

  const std::string batch = std::to_string(original["batch_sizes"][0].get<std::int64_t>());
  expect_refused_with(package, tuned, "/tuning", "fast", "tuning");
  expect_refused_with(package, tuned, "/tuning/" + level + "/" + batch, 3, "tuning." + level + "." + batch);
  expect_refused_with(package, tuned, "/tuning/" + level + "/" + batch + "/chosen", 4,
                      "tuning." + level + "." + batch + ".chosen");
}

TEST_F(DamagedPackage, ALibraryWithoutTheEntryPointOrFromAnotherPackageIsRefused) {
  const fs::path package = copy_of("mlp");
  replace_library(package, HEPINFER_NO_ENTRY_LIBRARY);
  const std::string message = test::error_message_of<InvalidModelError>([&] { aot::load_model(package); });
  EXPECT_NE(message.find("hepinfer_aot_package_v1"), std::string::npos) << message;

  const fs::path other = copy_of("cnn");
  replace_library(other, package_of("mlp") / "model.so");
  const std::string swapped = test::error_message_of<InvalidModelError>([&] { aot::load_model(other); });
  EXPECT_NE(swapped.find("disagree"), std::string::npos) << swapped;
}

TEST_F(DamagedPackage, MissingFilesAreFileNotFound) {
  EXPECT_THROW(aot::load_model(scratch_.path() / "no_such.aot"), FileNotFoundError);
  const fs::path package = copy_of("mlp");
  fs::remove(package / "model.so");
  EXPECT_THROW(aot::load_model(package), FileNotFoundError);
}

}  // namespace
}  // namespace hepinfer
