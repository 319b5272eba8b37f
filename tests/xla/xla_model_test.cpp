// The XLA backend on every test model family compiled by tools/make_xla_models.py (batch sizes 1
// and 4): agreement with Python TensorFlow at batch 0, 1 and 5 (padded and split), the Model
// contract, concurrency, and artifacts that are broken on purpose.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "error_message.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"
#include "hepinfer/scheduler/gpu_discovery.h"
#include "hepinfer/xla/xla_model.h"
#include "nlohmann/json.hpp"
#include "scratch_directory.h"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

// XLA fuses and reorders float arithmetic; results agree with TF to ~1e-6 relative.
constexpr double kXlaTolerance = 2e-5;

nlohmann::json xla_index() {
  std::ifstream file(fs::path(HEPINFER_XLA_MODELS_DIR) / "index.json");
  return nlohmann::json::parse(file);
}

// Artifacts by source format: "saved_model", "frozen_graph", "parameters" or "frozen_parameters"
// (the SavedModel or frozen graph compiled with its weights fed as parameters).
std::string index_key(const std::string& format) {
  if (format == "parameters") return "parameters_artifacts";
  if (format == "frozen_parameters") return "frozen_parameters_artifacts";
  return format == "saved_model" ? "artifacts" : "frozen_artifacts";
}

std::vector<std::string> compiled_families(const std::string& format = "saved_model") {
  const nlohmann::json index = xla_index();
  std::vector<std::string> names;
  for (const auto& [name, unused] : index.at(index_key(format)).items()) names.push_back(name);
  return names;
}

fs::path artifact_of(const std::string& family, const std::string& format = "saved_model") {
  return fs::path(HEPINFER_XLA_MODELS_DIR) / xla_index().at(index_key(format)).at(family).get<std::string>();
}

nlohmann::json manifest_of(const fs::path& artifact) {
  std::ifstream file(artifact / "manifest.json");
  return nlohmann::json::parse(file);
}

TEST(XlaArtifacts, EveryTestFamilyCompiles) {
  const nlohmann::json index = xla_index();
  // Lookup tables are state XLA cannot compile; refused at compile time, naming the op.
  for (const auto& [name, reason] : index.at("refused").items()) {
    EXPECT_EQ(name, "vocab_table") << reason;
    EXPECT_NE(reason.get<std::string>().find("Table"), std::string::npos) << reason;
  }
  for (const test::TestModel& model : test::test_models()) {
    if (model.formats.contains("saved_model") && model.name != "vocab_table") {
      EXPECT_TRUE(index.at("artifacts").contains(model.name)) << model.name;
    }
  }
}

// Every frozen graph compiles. Those with TF1 loops (the LSTM's and the GRU's Enter/Exit) go
// through tf2xla, which turns the loops into XLA loops, and are stored as HLO modules; their
// agreement with Python TF is XlaFrozenGraphAgreement's.
TEST(XlaArtifacts, EveryFrozenGraphCompilesTf1LoopsThroughTf2xla) {
  const nlohmann::json index = xla_index();
  EXPECT_TRUE(index.at("frozen_refused").empty()) << index.at("frozen_refused").dump();
  for (const test::TestModel& model : test::test_models()) {
    if (model.formats.contains("frozen_graph")) {
      EXPECT_TRUE(index.at("frozen_artifacts").contains(model.name)) << model.name;
    }
  }
  for (const char* family : {"lstm", "conv_gru"}) {
    const nlohmann::json manifest = manifest_of(artifact_of(family, "frozen_graph"));
    for (const auto& program : manifest.at("programs")) EXPECT_EQ(program.at("format"), "hlo") << family;
  }
}

// Programs are StableHLO portable artifacts for the oldest version that has every op (1.0.0 for
// most, 1.4.0 for stablehlo.tan); where none has one (TF's Erf lowers to mhlo.erf), HLO modules.
// Agreement for both comes from the families' MatchesPythonAtEveryBatchSize.
TEST(XlaArtifacts, ProgramsTakeTheOldestFormThatExpressesTheirOps) {
  const nlohmann::json mlp = manifest_of(artifact_of("mlp"));
  EXPECT_EQ(mlp.at("stablehlo_version"), "1.0.0");
  for (const auto& program : mlp.at("programs")) EXPECT_EQ(program.at("format"), "mlir");

  const nlohmann::json tangent = manifest_of(artifact_of("tangent"));
  EXPECT_NE(tangent.at("stablehlo_version"), "1.0.0");
  for (const auto& program : tangent.at("programs")) EXPECT_EQ(program.at("format"), "mlir");

  for (const std::string format : {"saved_model", "frozen_graph"}) {
    const nlohmann::json gelu = manifest_of(artifact_of("exact_gelu", format));
    for (const auto& program : gelu.at("programs")) {
      EXPECT_EQ(program.at("format"), "hlo") << format;
      EXPECT_TRUE(program.at("file").get<std::string>().ends_with(".hlo.pb")) << program.dump();
    }
  }
}

void expect_agreement(const Model& loaded, const std::string& family, const std::string& format) {
  const test::TestModel& model = test::test_model(family);
  EXPECT_EQ(loaded.info().backend, "xla");
  const std::vector<std::string> outputs = test::output_names(model, format);
  for (const test::ReferenceCase& reference : model.cases) {
    SCOPED_TRACE("batch " + std::to_string(reference.batch));
    const std::vector<Tensor> got = loaded.run(test::reference_inputs(model, format, reference), outputs);
    ASSERT_EQ(got.size(), model.outputs.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE("output " + model.outputs[i]);
      EXPECT_EQ(got[i].rows(), reference.batch);
      EXPECT_TENSORS_MATCH(got[i], read_npy(reference.outputs.at(model.outputs[i])),
                           std::max(model.tolerance, model.tolerance > 0 ? kXlaTolerance : 0.0));
    }
  }
}

void expect_agreement(const std::string& family, const std::string& format) {
  expect_agreement(*xla::load_model(artifact_of(family, format)), family, format);
}

class XlaAgreement : public ::testing::TestWithParam<std::string> {};
TEST_P(XlaAgreement, MatchesPythonAtEveryBatchSize) { expect_agreement(GetParam(), "saved_model"); }
INSTANTIATE_TEST_SUITE_P(EveryFamily, XlaAgreement, ::testing::ValuesIn(compiled_families()),
                         [](const auto& test_info) { return test_info.param; });

class XlaFrozenGraphAgreement : public ::testing::TestWithParam<std::string> {};
TEST_P(XlaFrozenGraphAgreement, MatchesPythonAtEveryBatchSize) { expect_agreement(GetParam(), "frozen_graph"); }
INSTANTIATE_TEST_SUITE_P(EveryFamily, XlaFrozenGraphAgreement, ::testing::ValuesIn(compiled_families("frozen_graph")),
                         [](const auto& test_info) { return test_info.param; });

TEST(XlaModel, PaddedAndSplitRunsEqualRowByRowRuns) {
  const test::TestModel& mlp = test::test_model("mlp");
  const auto model = xla::load_model(artifact_of("mlp"));
  const Tensor x = read_npy(mlp.cases.back().inputs.at("x"));  // 5 rows
  const Tensor nine = concat_rows(std::vector<Tensor>{x, x.slice_rows(0, 4)});
  const std::vector<Tensor> all = model->run({{"x", nine}}, {});  // 4 + 4 + 1
  ASSERT_EQ(all[0].rows(), 9);
  for (std::int64_t row = 0; row < 9; ++row) {
    const std::vector<Tensor> one = model->run({{"x", nine.slice_rows(row, row + 1)}}, {});
    EXPECT_TENSORS_MATCH(all[0].slice_rows(row, row + 1), one[0], 1e-6);
  }
  const std::vector<Tensor> two = model->run({{"x", x.slice_rows(0, 2)}}, {});  // padded to 4
  EXPECT_TENSORS_MATCH(two[0], all[0].slice_rows(0, 2), 1e-6);
}

TEST(XlaModel, EmptyOutputListGivesEveryOutputInSignatureOrder) {
  const test::TestModel& multi_io = test::test_model("multi_io");
  const auto model = xla::load_model(artifact_of("multi_io"));
  const test::ReferenceCase& reference = multi_io.cases.back();
  const auto inputs = test::reference_inputs(multi_io, "saved_model", reference);
  const std::vector<std::string> names = test::output_names(multi_io, "saved_model");
  ASSERT_EQ(names.size(), 2u);
  const auto& signature_outputs = model->info().signature(model->info().default_signature).outputs;
  const std::vector<Tensor> every = model->run(inputs, {});
  ASSERT_EQ(every.size(), signature_outputs.size());
  const std::vector<Tensor> reversed = model->run(inputs, {names[1], names[0]});
  ASSERT_EQ(reversed.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE("output " + multi_io.outputs[i]);
    const Tensor expected = read_npy(reference.outputs.at(multi_io.outputs[i]));
    const auto position = std::find_if(signature_outputs.begin(), signature_outputs.end(),
                                       [&](const TensorInfo& info) { return info.key == names[i]; });
    ASSERT_NE(position, signature_outputs.end());
    EXPECT_TENSORS_MATCH(every[static_cast<std::size_t>(position - signature_outputs.begin())], expected, kXlaTolerance);
    EXPECT_TENSORS_MATCH(reversed[1 - i], expected, kXlaTolerance);
  }
}

void expect_shared_by_64_threads(const fs::path& artifact) {
  const test::TestModel& mlp = test::test_model("mlp");
  const auto model = xla::load_model(artifact);
  const Tensor x = read_npy(mlp.cases.back().inputs.at("x"));
  const Tensor expected = read_npy(mlp.cases.back().outputs.at("prob"));
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        try {
          const std::int64_t rows = 1 + (t + i) % 5;
          const std::vector<Tensor> out = model->run({{"x", x.slice_rows(0, rows)}}, {});
          if (!test::tensors_match(out[0], expected.slice_rows(0, rows), kXlaTolerance)) ++mismatches;
        } catch (const Error&) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(failures.load(), 0);
}

TEST(XlaModel, SixtyFourThreadsShareOneModel) { expect_shared_by_64_threads(artifact_of("mlp")); }

// Every run of every thread passes the same weight buffers to the plugin.
TEST(XlaWeightParameters, SixtyFourThreadsShareTheWeights) {
  expect_shared_by_64_threads(artifact_of("mlp", "parameters"));
}

TEST(XlaModel, InputsAreCheckedBeforeThePluginSeesThem) {
  const auto model = xla::load_model(artifact_of("multi_io"));
  const Tensor jets(DType::kFloat32, {2, 10, 4}), event(DType::kFloat32, {2, 6});
  EXPECT_THROW(model->run({{"jets", jets}}, {}), InvalidArgumentError);  // event missing
  EXPECT_THROW(model->run({{"jets", jets}, {"event", event}, {"extra", event}}, {}), NotFoundError);
  EXPECT_THROW(model->run({{"jets", Tensor(DType::kInt32, {2, 10, 4})}, {"event", event}}, {}), DTypeMismatchError);
  EXPECT_THROW(model->run({{"jets", Tensor(DType::kFloat32, {2, 9, 4})}, {"event", event}}, {}), ShapeMismatchError);
  EXPECT_THROW(model->run({{"jets", jets}, {"event", Tensor(DType::kFloat32, {3, 6})}}, {}), ShapeMismatchError);
  EXPECT_THROW(model->run({{"jets", jets}, {"event", event}}, {"no_such_output"}), NotFoundError);
}

std::size_t threads_in_process() {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator()));
}

TEST(XlaModel, ModelsOnTheCpuShareOneClientAndItsThreads) {
  // One client is a worker and an Eigen pool of about one thread per core (7 threads here); the
  // plugin starts some of them lazily, by what was compiled and run. A client per model would
  // add all of them again for every model; shared, eight models cost at most one pool.
  std::vector<std::unique_ptr<Model>> models;
  models.push_back(xla::load_model(artifact_of("mlp"), {.warmup_runs = 1}));
  const std::size_t after_one = threads_in_process();
  for (const char* family : {"multi_io", "mlp", "lstm", "cnn", "dtypes", "embedding", "wide"}) {
    models.push_back(xla::load_model(artifact_of(family), {.warmup_runs = 1}));
  }
  EXPECT_LE(threads_in_process(), after_one + std::thread::hardware_concurrency() + 4)
      << "eight models must share the plugin's threads";
  const Model& first = *models.front();
  EXPECT_EQ(first.info().device, "PJRT cpu:0");
  EXPECT_FALSE(first.info().gpu.has_value());
  EXPECT_TRUE(first.info().placement_note.empty());
  EXPECT_FALSE(xla::device_memory(first).has_value());  // the CPU plugin keeps no statistics
}

TEST(XlaRunMemory, TheLoadReportHasTheCompilersFiguresForEveryBatchSize) {
  const auto model = xla::load_model(artifact_of("mlp"));  // x [-1, 32] -> prob [-1, 8], float32
  const xla::XlaLoadReport report = *xla::load_report(*model);
  ASSERT_EQ(report.batches.size(), 2u);
  for (const xla::CompiledBatchReport& batch : report.batches) {
    SCOPED_TRACE("batch " + std::to_string(batch.rows));
    ASSERT_TRUE(batch.memory.has_value()) << "the CPU plugin reports compiled memory";
    EXPECT_EQ(batch.memory->argument_bytes, batch.rows * 32 * 4);
    EXPECT_EQ(batch.memory->output_bytes, batch.rows * 8 * 4);
    EXPECT_TRUE(batch.used);
  }
  EXPECT_GT(report.batches[1].memory->run_bytes(), report.batches[0].memory->run_bytes());
  EXPECT_EQ(report.run_memory_limit_bytes, 0) << "no limit on the CPU unless one is given";
}

TEST(XlaRunMemory, ProgramsOverTheLimitAreNotUsedAndRunsAreSplitOverTheOthers) {
  const test::TestModel& mlp = test::test_model("mlp");
  const auto unlimited = xla::load_model(artifact_of("mlp"));
  const std::int64_t one_row = xla::load_report(*unlimited)->batches.front().memory->run_bytes();
  const auto limited = xla::load_model(artifact_of("mlp"), {}, {.run_memory_limit_bytes = one_row});
  const xla::XlaLoadReport report = *xla::load_report(*limited);
  EXPECT_EQ(report.run_memory_limit_bytes, one_row);
  ASSERT_EQ(report.batches.size(), 2u);
  EXPECT_TRUE(report.batches[0].used);
  EXPECT_FALSE(report.batches[1].used) << "batch 4 needs more than batch 1";
  const auto& details = limited->info().load_details;
  EXPECT_TRUE(std::any_of(details.begin(), details.end(), [](const auto& detail) {
    return detail.first == "batch sizes" && detail.second == "1";
  }));
  EXPECT_EQ(limited->info().batch_sizes, std::vector<std::int64_t>{1}) << "what a splitter may lower its limit to";
  EXPECT_EQ(unlimited->info().batch_sizes, (std::vector<std::int64_t>{1, 4}));
  // Five rows now run as five programs of one row, and agree all the same.
  const std::vector<Tensor> out = limited->run({{"x", read_npy(mlp.cases.back().inputs.at("x"))}}, {});
  EXPECT_TENSORS_MATCH(out[0], read_npy(mlp.cases.back().outputs.at("prob")), kXlaTolerance);
}

// A growing GPU allocator keeps the regions of earlier, smaller runs: a program is kept only when
// its run fits beside theirs (on an H200 a 256 MiB run under a 258 MiB cap failed after them).
TEST(XlaRunMemory, AProgramMustFitBesideTheRunsOfTheSmallerOnes) {
  const auto unlimited = xla::load_model(artifact_of("mlp"));
  const xla::XlaLoadReport figures = *xla::load_report(*unlimited);
  ASSERT_EQ(figures.batches.size(), 2u);
  const std::int64_t one_row = figures.batches[0].memory->run_bytes();
  const std::int64_t four_rows = figures.batches[1].memory->run_bytes();

  const auto alone = xla::load_model(artifact_of("mlp"), {}, {.run_memory_limit_bytes = four_rows});
  EXPECT_TRUE(xla::load_report(*alone)->batches[0].used);
  EXPECT_FALSE(xla::load_report(*alone)->batches[1].used) << "batch 4 fits the limit alone, not beside batch 1";

  const auto beside = xla::load_model(artifact_of("mlp"), {}, {.run_memory_limit_bytes = one_row + four_rows});
  EXPECT_TRUE(xla::load_report(*beside)->batches[0].used);
  EXPECT_TRUE(xla::load_report(*beside)->batches[1].used);
}

TEST(XlaRunMemory, ALimitNoProgramFitsIsRefusedAtLoadNamingTheNeed) {
  const std::string message = test::error_message_of<ResourceExhaustedError>(
      [&] { xla::load_model(artifact_of("mlp"), {}, {.run_memory_limit_bytes = 1}); });
  EXPECT_NE(message.find(artifact_of("mlp").string()), std::string::npos) << message;
  EXPECT_NE(message.find("smallest compiled batch size (1)"), std::string::npos) << message;
  EXPECT_NE(message.find("run memory limit"), std::string::npos) << message;
  test::error_message_of<InvalidArgumentError>(
      [&] { xla::load_model(artifact_of("mlp"), {}, {.run_memory_limit_bytes = 0}); });
}

TEST(XlaModel, AGpuPlacementThisProcessCannotFollowRunsOnTheCpuAndSaysWhy) {
  if (!scheduler::discover_gpus({.query_free_memory = false}).inventory.gpus.empty()) {
    GTEST_SKIP() << "this machine has a GPU; docs/gpu-validation.md covers the GPU path";
  }
  const test::TestModel& mlp = test::test_model("mlp");
  const Placement on_gpu{.module = "tagger", .devices = {0}, .memory_mib = {1024}};
  const auto model = xla::load_model(artifact_of("mlp"), {.placement = on_gpu});
  EXPECT_FALSE(model->info().gpu.has_value());
  EXPECT_EQ(model->info().device, "PJRT cpu:0");
  EXPECT_NE(model->info().placement_note.find("GPU 0"), std::string::npos) << model->info().placement_note;
  const std::vector<Tensor> out = model->run({{"x", read_npy(mlp.cases.back().inputs.at("x"))}}, {});
  EXPECT_TENSORS_MATCH(out[0], read_npy(mlp.cases.back().outputs.at("prob")), kXlaTolerance);
}

TEST(XlaModel, AnExplicitlyNamedCudaPluginMustExist) {
  const Placement on_gpu{.module = "tagger", .devices = {0}, .memory_mib = {1024}};
  const std::string message = test::error_message_of<FileNotFoundError>(
      [&] { xla::load_model(artifact_of("mlp"), {.placement = on_gpu}, {.cuda_plugin = "/no/such/cuda_plugin.so"}); });
  EXPECT_NE(message.find("/no/such/cuda_plugin.so"), std::string::npos) << message;
}

std::vector<fs::path> cache_entries(const fs::path& cache) {
  std::vector<fs::path> entries;
  if (!fs::exists(cache)) return entries;
  for (const auto& entry : fs::directory_iterator(cache)) entries.push_back(entry.path());
  return entries;
}

void expect_mlp_agrees(const Model& model) {
  const test::TestModel& mlp = test::test_model("mlp");
  const std::vector<Tensor> out = model.run({{"x", read_npy(mlp.cases.back().inputs.at("x"))}}, {});
  EXPECT_TENSORS_MATCH(out[0], read_npy(mlp.cases.back().outputs.at("prob")), kXlaTolerance);
}

TEST(XlaCompileCache, ProgramsAreCompiledOnceAndLoadedFromTheCacheAfter) {
  const test::ScratchDirectory scratch;
  const fs::path cache = scratch.path() / "cache";
  const auto first = xla::load_model(artifact_of("mlp"), {}, {.compile_cache = cache});
  EXPECT_EQ(xla::load_report(*first)->programs, 2u);
  EXPECT_EQ(xla::load_report(*first)->programs_from_cache, 0u);
  EXPECT_EQ(cache_entries(cache).size(), 2u);
  const auto second = xla::load_model(artifact_of("mlp"), {}, {.compile_cache = cache});
  EXPECT_EQ(xla::load_report(*second)->programs_from_cache, 2u);
  EXPECT_EQ(xla::load_report(*second)->cache, cache);
  expect_mlp_agrees(*second);
  // Another model's programs are other entries.
  const auto other = xla::load_model(artifact_of("cnn"), {}, {.compile_cache = cache});
  EXPECT_EQ(xla::load_report(*other)->programs_from_cache, 0u);
  EXPECT_EQ(cache_entries(cache).size(), 4u);
}

TEST(XlaCompileCache, DamagedEntriesNeverReachThePluginAndAreReplaced) {
  const test::ScratchDirectory scratch;
  const fs::path cache = scratch.path() / "cache";
  xla::load_model(artifact_of("mlp"), {}, {.compile_cache = cache});
  const std::vector<fs::path> entries = cache_entries(cache);
  ASSERT_EQ(entries.size(), 2u);
  fs::resize_file(entries[0], fs::file_size(entries[0]) - 100);  // truncated
  {
    std::fstream edited(entries[1], std::ios::in | std::ios::out | std::ios::binary);
    edited.seekp(-50, std::ios::end);
    edited.put('\x5a');  // one byte of the executable changed
  }
  const auto reloaded = xla::load_model(artifact_of("mlp"), {}, {.compile_cache = cache});
  EXPECT_EQ(xla::load_report(*reloaded)->programs_from_cache, 0u);
  expect_mlp_agrees(*reloaded);
  EXPECT_EQ(xla::load_report(*xla::load_model(artifact_of("mlp"), {}, {.compile_cache = cache}))->programs_from_cache,
            2u);
}

TEST(XlaCompileCache, NoCacheOrAnUnwritableOneIsNoError) {
  const test::ScratchDirectory scratch;
  const auto uncached = xla::load_model(artifact_of("mlp"), {}, {.compile_cache = fs::path()});
  EXPECT_TRUE(xla::load_report(*uncached)->cache.empty());
  EXPECT_EQ(xla::load_report(*uncached)->programs_from_cache, 0u);
  const fs::path file = scratch.path() / "a_file";
  std::ofstream(file) << "not a directory";
  const auto unwritable = xla::load_model(artifact_of("mlp"), {}, {.compile_cache = file / "cache"});
  expect_mlp_agrees(*unwritable);
  EXPECT_EQ(xla::load_report(*unwritable)->programs_from_cache, 0u);
}

fs::path pinned_host_artifact_of(const std::string& family) {
  return fs::path(HEPINFER_XLA_MODELS_DIR) / xla_index().at("pinned_host_io_artifacts").at(family).get<std::string>();
}

// multi_io and dtypes (tools/make_xla_models.py).
std::vector<std::string> pinned_host_families() {
  const nlohmann::json index = xla_index();
  std::vector<std::string> names;
  for (const auto& [name, unused] : index.at("pinned_host_io_artifacts").items()) names.push_back(name);
  return names;
}

std::string load_detail(const Model& model, const std::string& key) {
  for (const auto& [name, value] : model.info().load_details) {
    if (name == key) return value;
  }
  return "";
}

TEST(XlaPinnedHostIo, EveryProgramHasItsVariantBesideIt) {
  ASSERT_EQ(pinned_host_families().size(), 2u);
  for (const std::string& family : pinned_host_families()) {
    SCOPED_TRACE(family);
    const fs::path artifact = pinned_host_artifact_of(family);
    const nlohmann::json manifest = manifest_of(artifact);
    ASSERT_EQ(manifest.at("programs").size(), 2u);
    for (const auto& program : manifest.at("programs")) {
      ASSERT_TRUE(program.contains("pinned_host_io")) << program.dump();
      const nlohmann::json& variant = program.at("pinned_host_io");
      EXPECT_TRUE(variant.at("inputs_in_pinned_host").get<bool>());
      const fs::path plain = artifact / program.at("file").get<std::string>();
      const fs::path pinned = artifact / variant.at("file").get<std::string>();
      ASSERT_TRUE(fs::is_regular_file(pinned));
      EXPECT_NE(fs::file_size(pinned), fs::file_size(plain)) << "the variant holds the placement annotations";
    }
  }
}

TEST(XlaPinnedHostIo, TheCpuPluginRunsThePlainPrograms) {
  ASSERT_EQ(pinned_host_families().size(), 2u);
  for (const std::string& family : pinned_host_families()) {
    SCOPED_TRACE(family);
    const auto model = xla::load_model(pinned_host_artifact_of(family), {}, {.compile_cache = fs::path()});
    const xla::XlaLoadReport report = *xla::load_report(*model);
    EXPECT_EQ(report.pinned_host_variants, 2u);
    EXPECT_EQ(report.pinned_host_programs, 0u);
    EXPECT_TRUE(report.pinned_host_note.empty()) << report.pinned_host_note;
    EXPECT_NE(load_detail(*model, "pinned host I/O").find("on GPUs only"), std::string::npos)
        << load_detail(*model, "pinned host I/O");
    expect_agreement(*model, family, "saved_model");
  }
}

TEST(XlaPinnedHostIo, AVariantThePluginRefusesIsReplacedByItsPlainProgram) {
  // The CPU plugin has no implementation of XLA's placement annotation: asked to run the variants
  // anyway, it refuses each, and the model runs the plain programs.
  ASSERT_EQ(pinned_host_families().size(), 2u);
  for (const std::string& family : pinned_host_families()) {
    SCOPED_TRACE(family);
    const auto model = xla::load_model(pinned_host_artifact_of(family), {},
                                       {.compile_cache = fs::path(), .pinned_host_io = xla::PinnedHostIo::kEverywhere});
    const xla::XlaLoadReport report = *xla::load_report(*model);
    EXPECT_EQ(report.pinned_host_variants, 2u);
    EXPECT_EQ(report.pinned_host_programs, 0u);
    EXPECT_NE(report.pinned_host_note.find("b1.pinned_host_io.mlirbc"), std::string::npos) << report.pinned_host_note;
    EXPECT_NE(load_detail(*model, "pinned host I/O").find("the plain programs run instead"), std::string::npos)
        << load_detail(*model, "pinned host I/O");
    expect_agreement(*model, family, "saved_model");
  }
}

TEST(XlaPinnedHostIo, InputsArePlacedInTheDevicesPinnedHostMemory) {
  // The CPU plugin's device has a pinned_host memory too, and a plain program takes its inputs
  // from there: a manifest naming each plain program as its own variant runs the variant path's
  // input placement here.
  const test::ScratchDirectory scratch;
  const fs::path copy = scratch.path() / "multi_io.xla";
  fs::copy(artifact_of("multi_io"), copy, fs::copy_options::recursive);
  nlohmann::json manifest = manifest_of(copy);
  for (auto& program : manifest.at("programs")) {
    program["pinned_host_io"] = {{"file", program.at("file")}, {"inputs_in_pinned_host", true}};
  }
  std::ofstream(copy / "manifest.json") << manifest.dump();
  const auto model = xla::load_model(copy, {}, {.compile_cache = fs::path(), .pinned_host_io = xla::PinnedHostIo::kEverywhere});
  EXPECT_EQ(xla::load_report(*model)->pinned_host_programs, 2u) << xla::load_report(*model)->pinned_host_note;
  expect_agreement(*model, "multi_io", "saved_model");
}

TEST(XlaPinnedHostIo, AVariantWhoseFirstRunFailsIsReplacedByItsPlainProgram) {
  // The batch-4 program named as the batch-1 program's variant compiles, and its run on one row of
  // zeros fails (PJRT checks the buffers' sizes): the model must load with the plain programs.
  const test::ScratchDirectory scratch;
  const fs::path copy = scratch.path() / "multi_io.xla";
  fs::copy(artifact_of("multi_io"), copy, fs::copy_options::recursive);
  nlohmann::json manifest = manifest_of(copy);
  ASSERT_EQ(manifest.at("programs")[0].at("batch"), 1);
  manifest["programs"][0]["pinned_host_io"] = {{"file", manifest.at("programs")[1].at("file")},
                                               {"inputs_in_pinned_host", false}};
  std::ofstream(copy / "manifest.json") << manifest.dump();
  const auto model = xla::load_model(copy, {}, {.compile_cache = fs::path(), .pinned_host_io = xla::PinnedHostIo::kEverywhere});
  const xla::XlaLoadReport report = *xla::load_report(*model);
  EXPECT_EQ(report.pinned_host_programs, 0u);
  EXPECT_NE(report.pinned_host_note.find(manifest.at("programs")[1].at("file").get<std::string>()), std::string::npos)
      << report.pinned_host_note;
  expect_agreement(*model, "multi_io", "saved_model");
}

TEST(XlaPinnedHostIo, OffRunsThePlainProgramsAndSaysSo) {
  const auto model = xla::load_model(pinned_host_artifact_of("multi_io"), {},
                                     {.compile_cache = fs::path(), .pinned_host_io = xla::PinnedHostIo::kOff});
  EXPECT_EQ(xla::load_report(*model)->pinned_host_programs, 0u);
  EXPECT_TRUE(xla::load_report(*model)->pinned_host_note.empty());
  EXPECT_NE(load_detail(*model, "pinned host I/O").find("is off"), std::string::npos);
  expect_agreement(*model, "multi_io", "saved_model");
}

TEST(XlaPinnedHostIo, ArtifactsWithoutVariantsSayNothingOfThem) {
  const auto model = xla::load_model(artifact_of("multi_io"));
  EXPECT_EQ(xla::load_report(*model)->pinned_host_variants, 0u);
  EXPECT_EQ(load_detail(*model, "pinned host I/O"), "");
}

// Weights fed as parameters (`hepinfer compile --weights parameters`, tools/make_xla_models.py
// compiles every SavedModel family so): one weights file, on the device once for every program.
class XlaParameterAgreement : public ::testing::TestWithParam<std::string> {};
TEST_P(XlaParameterAgreement, MatchesPythonAtEveryBatchSize) {
  expect_agreement(*xla::load_model(artifact_of(GetParam(), "parameters")), GetParam(), "saved_model");
}
INSTANTIATE_TEST_SUITE_P(EveryFamilyWithVariables, XlaParameterAgreement,
                         ::testing::ValuesIn(compiled_families("parameters")),
                         [](const auto& test_info) { return test_info.param; });

// A frozen graph's floating constants of 1024 elements or more, made variables.
class XlaFrozenParameterAgreement : public ::testing::TestWithParam<std::string> {};
TEST_P(XlaFrozenParameterAgreement, MatchesPythonAtEveryBatchSize) {
  expect_agreement(*xla::load_model(artifact_of(GetParam(), "frozen_parameters")), GetParam(), "frozen_graph");
}
INSTANTIATE_TEST_SUITE_P(EveryFamilyWithLargeConstants, XlaFrozenParameterAgreement,
                         ::testing::ValuesIn(compiled_families("frozen_parameters")),
                         [](const auto& test_info) { return test_info.param; });

std::int64_t manifest_weight_bytes(const nlohmann::json& manifest) {
  std::int64_t total = 0;
  for (const auto& tensor : manifest.at("weights").at("tensors")) {
    std::int64_t elements = 1;
    for (const auto& dim : tensor.at("shape")) elements *= dim.get<std::int64_t>();
    total += elements * static_cast<std::int64_t>(dtype_size(*parse_dtype(tensor.at("dtype").get<std::string>())));
  }
  return total;
}

TEST(XlaWeightParameters, EverySavedModelFamilyWithVariablesCompilesSo) {
  const nlohmann::json index = xla_index();
  const nlohmann::json& compiled = index.at("parameters_artifacts");
  for (const char* family : {"mlp", "cnn", "lstm", "conv_gru", "attention", "embedding", "custom_f64",
                             "mixed_precision", "mixed_bfloat16", "keras2_recurrent", "particle_cloud", "multi_io"}) {
    EXPECT_TRUE(compiled.contains(family)) << family;
  }
  for (const char* family : {"mlp", "cnn", "multi_io"}) {
    EXPECT_TRUE(index.at("frozen_parameters_artifacts").contains(family)) << family;
  }
  // tf2xla compiles graphs with TF1 control flow as graphs, constants and all.
  const nlohmann::json& refused = index.at("parameters_refused");
  ASSERT_EQ(refused.size(), 1u) << refused.dump();
  EXPECT_NE(refused.at("tf1_training").get<std::string>().find("tf2xla"), std::string::npos) << refused.dump();
  for (const char* family : {"lstm", "conv_gru", "tf1_training"}) {
    EXPECT_TRUE(index.at("frozen_parameters_refused").contains(family)) << family;
  }

  const fs::path fed = artifact_of("mlp", "parameters");
  const nlohmann::json manifest = manifest_of(fed);
  EXPECT_EQ(manifest.at("format_version"), 2) << "a hepinfer reading version 1 only must refuse it";
  EXPECT_EQ(manifest.at("weights").at("layout"), "parameters");
  EXPECT_EQ(manifest.at("weights").at("tensors").size(), 10u) << "5 dense layers: kernel and bias";
  const nlohmann::json baked = manifest_of(artifact_of("mlp"));
  EXPECT_EQ(baked.at("weights"), "baked into each program");
  for (std::size_t i = 0; i < manifest.at("programs").size(); ++i) {
    const auto program_bytes = fs::file_size(fed / manifest.at("programs")[i].at("file").get<std::string>());
    const auto baked_bytes = fs::file_size(artifact_of("mlp") / baked.at("programs")[i].at("file").get<std::string>());
    EXPECT_LT(program_bytes * 10, baked_bytes) << "the weights are not in the program";
  }
  EXPECT_GE(static_cast<std::int64_t>(fs::file_size(fed / "weights.bin")), manifest_weight_bytes(manifest));
}

TEST(XlaWeightParameters, TheWeightsAreOnTheDeviceOnceBesideEveryProgram) {
  const fs::path fed = artifact_of("mlp", "parameters");
  const auto model = xla::load_model(fed);  // x [-1, 32] -> prob [-1, 8], float32
  const xla::XlaLoadReport report = *xla::load_report(*model);
  const std::int64_t weights = manifest_weight_bytes(manifest_of(fed));
  EXPECT_EQ(report.resident_weight_bytes, weights);
  EXPECT_EQ(report.resident_weight_tensors, 10u);
  ASSERT_EQ(report.batches.size(), 2u);
  for (const xla::CompiledBatchReport& batch : report.batches) {
    SCOPED_TRACE("batch " + std::to_string(batch.rows));
    ASSERT_TRUE(batch.memory.has_value());
    EXPECT_EQ(batch.memory->argument_bytes, batch.rows * 32 * 4 + weights) << "the compiler counts them as arguments";
    EXPECT_EQ(batch.memory->resident_argument_bytes, weights);
    EXPECT_EQ(batch.memory->run_bytes(), batch.rows * 32 * 4 + batch.memory->output_bytes - batch.memory->alias_bytes +
                                             batch.memory->temp_bytes)
        << "a run allocates its inputs, outputs and temporaries, not the weights";
  }
  EXPECT_NE(load_detail(*model, "weights").find("10 tensors"), std::string::npos) << load_detail(*model, "weights");
  EXPECT_NE(load_detail(*model, "weights").find("parameters from 'weights.bin'"), std::string::npos);
  EXPECT_EQ(load_detail(*xla::load_model(artifact_of("mlp")), "weights"), "baked into each program");
}

TEST(XlaWeightParameters, ARunMemoryLimitCountsTheWeightsOnce) {
  const test::TestModel& mlp = test::test_model("mlp");
  const fs::path fed = artifact_of("mlp", "parameters");
  const xla::XlaLoadReport figures = *xla::load_report(*xla::load_model(fed));
  const std::int64_t weights = figures.resident_weight_bytes;
  const std::int64_t one_row = figures.batches[0].memory->run_bytes();
  const std::int64_t four_rows = figures.batches[1].memory->run_bytes();

  const auto both = xla::load_model(fed, {}, {.run_memory_limit_bytes = weights + one_row + four_rows});
  EXPECT_EQ(both->info().batch_sizes, (std::vector<std::int64_t>{1, 4})) << "weights counted once, not per program";

  const auto smaller = xla::load_model(fed, {}, {.run_memory_limit_bytes = weights + one_row});
  EXPECT_EQ(smaller->info().batch_sizes, std::vector<std::int64_t>{1});
  const std::vector<Tensor> out = smaller->run({{"x", read_npy(mlp.cases.back().inputs.at("x"))}}, {});
  EXPECT_TENSORS_MATCH(out[0], read_npy(mlp.cases.back().outputs.at("prob")), kXlaTolerance);

  const std::string message = test::error_message_of<ResourceExhaustedError>(
      [&] { xla::load_model(fed, {}, {.run_memory_limit_bytes = weights - 1}); });
  EXPECT_NE(message.find("weights"), std::string::npos) << message;
  EXPECT_NE(message.find(fed.string()), std::string::npos) << message;
  test::error_message_of<ResourceExhaustedError>(
      [&] { xla::load_model(fed, {}, {.run_memory_limit_bytes = weights + one_row - 1}); });
}

TEST(XlaWeightParameters, PinnedHostInputsRunBesideResidentWeights) {
  // As InputsArePlacedInTheDevicesPinnedHostMemory: the inputs from the device's pinned_host
  // memory, the weights from its default memory, in one run (what a GPU program rewritten by
  // host_memory_programs.py takes is checked as text by xla_pinned_host_weights).
  const test::ScratchDirectory scratch;
  const fs::path copy = scratch.path() / "multi_io.parameters.xla";
  fs::copy(artifact_of("multi_io", "parameters"), copy, fs::copy_options::recursive);
  nlohmann::json manifest = manifest_of(copy);
  for (auto& program : manifest.at("programs")) {
    program["pinned_host_io"] = {{"file", program.at("file")}, {"inputs_in_pinned_host", true}};
  }
  std::ofstream(copy / "manifest.json") << manifest.dump();
  const auto model =
      xla::load_model(copy, {}, {.compile_cache = fs::path(), .pinned_host_io = xla::PinnedHostIo::kEverywhere});
  EXPECT_EQ(xla::load_report(*model)->pinned_host_programs, 2u) << xla::load_report(*model)->pinned_host_note;
  EXPECT_GT(xla::load_report(*model)->resident_weight_bytes, 0);
  expect_agreement(*model, "multi_io", "saved_model");
}

// A scratch copy of a compiled test artifact, broken on purpose by each test.
class ArtifactCopyTest : public ::testing::Test {
 protected:
  explicit ArtifactCopyTest(const fs::path& source) : copy_(scratch_.path() / source.filename()) {
    fs::copy(source, copy_, fs::copy_options::recursive);
  }

  nlohmann::json manifest() const { return nlohmann::json::parse(std::ifstream(copy_ / "manifest.json")); }
  void write(const nlohmann::json& manifest) const { std::ofstream(copy_ / "manifest.json") << manifest.dump(); }

  template <class ErrorType>
  void expect_refused(const std::string& mentioned) const {
    const std::string message = test::error_message_of<ErrorType>([&] { xla::load_model(copy_); });
    EXPECT_NE(message.find(mentioned), std::string::npos) << message;
  }

  test::ScratchDirectory scratch_;
  const fs::path copy_;
};

class BrokenArtifact : public ArtifactCopyTest {
 protected:
  BrokenArtifact() : ArtifactCopyTest(artifact_of("mlp")) {}
};

TEST_F(BrokenArtifact, ATruncatedProgramIsATypedError) {
  const fs::path program = copy_ / manifest()["programs"][0]["file"].get<std::string>();
  fs::resize_file(program, fs::file_size(program) / 2);
  expect_refused<Error>(program.filename().string());
}

TEST_F(BrokenArtifact, AMissingProgramIsNotFound) {
  fs::remove(copy_ / manifest()["programs"][1]["file"].get<std::string>());
  expect_refused<FileNotFoundError>("b4.mlirbc");
}

TEST_F(BrokenArtifact, AManifestFromBeforeMatmulPrecisionLoadsAsDefaultPrecision) {
  nlohmann::json older = manifest();
  EXPECT_EQ(older.at("matmul_precision"), "highest") << "what hepinfer compile writes unless told otherwise";
  older.erase("matmul_precision");
  write(older);
  const auto model = xla::load_model(copy_);
  const auto& details = model->info().load_details;
  EXPECT_TRUE(std::any_of(details.begin(), details.end(), [](const auto& detail) {
    return detail.first == "matmul precision" && detail.second == "default (a GPU may use TF32)";
  }));
}

TEST_F(BrokenArtifact, EditedManifestsNameTheField) {
  const nlohmann::json original = manifest();
  nlohmann::json edited = original;
  edited["format_version"] = 99;
  write(edited);
  expect_refused<InvalidModelError>("format_version");
  edited = manifest();
  edited["format_version"] = 1;
  edited["inputs"][0]["dtype"] = "complex64";
  write(edited);
  expect_refused<InvalidModelError>("inputs[0].dtype");
  edited["inputs"][0]["dtype"] = "float32";
  edited["programs"][0]["file"] = "../../etc/passwd";
  write(edited);
  expect_refused<InvalidModelError>("programs[0].file");
  edited["programs"][0]["file"] = original["programs"][0]["file"];
  edited["inputs"][0]["index_range"] = {0, 10};  // on a float32 input
  write(edited);
  expect_refused<InvalidModelError>("inputs[0].index_range");
  edited["inputs"][0].erase("index_range");
  edited["matmul_precision"] = "fp8";
  write(edited);
  expect_refused<InvalidModelError>("matmul_precision");
  std::ofstream(copy_ / "manifest.json") << "{ not json";
  expect_refused<InvalidModelError>("not valid JSON");
}

TEST_F(BrokenArtifact, AStableHloVersionThePluginCannotReadIsRefusedBeforeItSeesTheProgram) {
  nlohmann::json edited = manifest();
  edited["stablehlo_version"] = "99.0.0";
  write(edited);
  const std::string message = test::error_message_of<UnsupportedError>([&] { xla::load_model(copy_); });
  EXPECT_NE(message.find("StableHLO 99.0.0"), std::string::npos) << message;
  EXPECT_NE(message.find("reads"), std::string::npos) << message;
  edited["stablehlo_version"] = "one.two";
  write(edited);
  expect_refused<InvalidModelError>("stablehlo_version");
}

TEST_F(BrokenArtifact, PinnedHostVariantsAreCheckedLikePrograms) {
  nlohmann::json edited = manifest();
  edited["programs"][0]["pinned_host_io"] = {{"file", "b1.pinned_host_io.mlirbc"}, {"inputs_in_pinned_host", true}};
  write(edited);
  expect_refused<FileNotFoundError>("b1.pinned_host_io.mlirbc");
  edited["programs"][0]["pinned_host_io"]["file"] = "../mlp.xla/b1.mlirbc";
  write(edited);
  expect_refused<InvalidModelError>("programs[0].pinned_host_io.file");
  edited["programs"][0]["pinned_host_io"]["file"] = edited["programs"][0]["file"];
  edited["programs"][0]["pinned_host_io"]["inputs_in_pinned_host"] = "yes";
  write(edited);
  expect_refused<InvalidModelError>("programs[0].pinned_host_io.inputs_in_pinned_host");
  edited["programs"][0]["pinned_host_io"].erase("inputs_in_pinned_host");
  write(edited);
  expect_refused<InvalidModelError>("programs[0].pinned_host_io.inputs_in_pinned_host");
}

class BrokenWeights : public ArtifactCopyTest {
 protected:
  BrokenWeights() : ArtifactCopyTest(artifact_of("mlp", "parameters")) {}
};

TEST_F(BrokenWeights, AMissingWeightsFileIsNotFound) {
  fs::remove(copy_ / "weights.bin");
  expect_refused<FileNotFoundError>("weights.bin");
}

TEST_F(BrokenWeights, ATruncatedWeightsFileNamesTheWeightBeyondItsEnd) {
  const std::string last = "weights.tensors[" + std::to_string(manifest().at("weights").at("tensors").size() - 1) + "]";
  fs::resize_file(copy_ / "weights.bin", fs::file_size(copy_ / "weights.bin") - 4);
  expect_refused<InvalidModelError>(last);
  fs::resize_file(copy_ / "weights.bin", 0);
  expect_refused<InvalidModelError>("does not lie inside");
}

TEST_F(BrokenWeights, EditedWeightEntriesNameTheField) {
  const nlohmann::json original = manifest();
  nlohmann::json edited = original;
  edited["weights"]["layout"] = "mmap";
  write(edited);
  expect_refused<InvalidModelError>("weights.layout");
  edited = original;
  edited["weights"]["file"] = "../mlp.xla/b1.mlirbc";
  write(edited);
  expect_refused<InvalidModelError>("weights.file");
  edited = original;
  edited["weights"]["tensors"] = nlohmann::json::array();
  write(edited);
  expect_refused<InvalidModelError>("weights.tensors");
  edited = original;
  edited["weights"]["tensors"][0]["dtype"] = "complex64";
  write(edited);
  expect_refused<InvalidModelError>("weights.tensors[0].dtype");
  edited = original;
  edited["weights"]["tensors"][0]["shape"] = {-1, 256};
  write(edited);
  expect_refused<InvalidModelError>("weights.tensors[0].shape");
  edited["weights"]["tensors"][0]["shape"] = {std::int64_t{1} << 40, std::int64_t{1} << 40};  // overflows no size
  write(edited);
  expect_refused<InvalidModelError>("weights.tensors[0]");
  edited = original;
  edited["weights"]["tensors"][1]["offset"] = -64;
  write(edited);
  expect_refused<InvalidModelError>("weights.tensors[1]");
}

TEST_F(BrokenWeights, AManifestListingOtherWeightsThanTheProgramsTakeIsRefusedAtLoad) {
  // The manifest is the only list of what the programs take; PJRT counts the buffers and their
  // sizes when a run starts, so the load runs the smallest program once.
  nlohmann::json edited = manifest();
  edited["weights"]["tensors"].erase(edited["weights"]["tensors"].size() - 1);
  write(edited);
  expect_refused<InvalidModelError>("do not take the 9 weights its manifest lists");
  edited = manifest();
  edited["weights"]["tensors"][0]["shape"] = {32, 128};  // half the bytes: PJRT's size check
  write(edited);
  expect_refused<InvalidModelError>("weights its manifest lists");
}

TEST_F(BrokenWeights, TheFormatVersionSaysWhetherTheProgramsTakeWeights) {
  nlohmann::json edited = manifest();
  edited["format_version"] = 1;  // a reader of version 1 would run the programs without them
  write(edited);
  expect_refused<InvalidModelError>("weights fed as parameters need version 2");
  edited["format_version"] = 2;
  edited["weights"] = "baked into each program";
  write(edited);
  expect_refused<InvalidModelError>("version 2 needs weights fed as parameters");
}

TEST_F(BrokenArtifact, AWrongPluginIsRefusedByName) {
  const std::string message =
      test::error_message_of<FileNotFoundError>([&] { xla::load_model(copy_, {}, {.cpu_plugin = "/no/such/plugin.so"}); });
  EXPECT_NE(message.find("/no/such/plugin.so"), std::string::npos) << message;
}

}  // namespace
}  // namespace hepinfer
