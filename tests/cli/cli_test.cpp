// The `hepinfer` command line: inspect and infer on real models, through real .npy files.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "hepinfer/core/npy.h"
#include "nlohmann/json.hpp"
#include "tensor_matchers.h"
#include "scratch_directory.h"
#include "test_models.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string quoted(const std::string& text) {
  std::string result = "'";
  for (char c : text) {
    if (c == '\'') {
      result.append("'\\''");
    } else {
      result.push_back(c);
    }
  }
  result.push_back('\'');
  return result;
}

std::string slurp(const fs::path& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

class Cli : public ::testing::Test {
 protected:

  CommandResult hepinfer(const std::vector<std::string>& args) const {
    std::string command = quoted(HEPINFER_CLI);
    for (const std::string& arg : args) command.append(" ").append(quoted(arg));
    command.append(" >").append(quoted((scratch_ / "stdout").string()));
    command.append(" 2>").append(quoted((scratch_ / "stderr").string()));
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(scratch_ / "stdout"), slurp(scratch_ / "stderr")};
  }

  // Failures print exactly one line that names the culprit.
  void expect_one_line_error(const CommandResult& result, const std::string& culprit) const {
    EXPECT_NE(result.exit_code, 0);
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find(culprit), std::string::npos) << result.err;
  }

  // Both compilers (the AOT one where its backend is tested) refuse `model` in one line naming
  // `culprit`, and leave nothing behind.
  void expect_compilers_refuse(const std::string& model, const std::string& culprit) const {
    expect_one_line_error(hepinfer({"compile", model, "-o", (scratch_ / "refused.xla").string()}), culprit);
#ifdef HEPINFER_TEST_AOT
    expect_one_line_error(hepinfer({"compile", model, "-o", (scratch_ / "refused.aot").string(), "--target", "cpu-aot"}),
                          culprit);
#endif
    EXPECT_FALSE(fs::exists(scratch_ / "refused.xla"));
    EXPECT_FALSE(fs::exists(scratch_ / "refused.aot"));
  }

  // `model` and what `hepinfer compile` makes of it at batch sizes 1 and 4 (an XLA artifact and,
  // where the AOT backend is tested, an AOT package), named <stem>.xla and <stem>.aot: the
  // runnables a test checks alike. Empty, with a failure recorded, if a compile fails.
  std::vector<fs::path> model_and_compiled(const fs::path& model, const std::string& stem) const {
    std::vector<fs::path> runnables{model};
    std::vector<std::pair<std::string, std::vector<std::string>>> targets{{".xla", {}}};
#ifdef HEPINFER_TEST_AOT
    targets.push_back({".aot", {"--target", "cpu-aot"}});
#endif
    for (const auto& [extension, target] : targets) {
      runnables.push_back(scratch_ / (stem + extension));
      std::vector<std::string> command{"compile", model.string(), "-o", runnables.back().string(),
                                       "--batch-sizes", "1,4"};
      command.insert(command.end(), target.begin(), target.end());
      const CommandResult compiled = hepinfer(command);
      EXPECT_EQ(compiled.exit_code, 0) << compiled.err;
      if (compiled.exit_code != 0) return {};
    }
    return runnables;
  }

  test::ScratchDirectory scratch_directory_;
  const fs::path& scratch_ = scratch_directory_.path();
};

TEST_F(Cli, InferRoundTripsEveryDTypeThroughNpyFiles) {
  const auto& dtypes = test::test_model("dtypes");
  for (const auto& [format_name, format] : dtypes.formats) {
    SCOPED_TRACE(format_name);
    const auto& reference = dtypes.cases.back();
    std::vector<std::string> args = {"infer", format.path};
    for (const auto& logical : dtypes.inputs) {
      args.insert(args.end(), {"--input", format.inputs.at(logical) + "=" + reference.inputs.at(logical)});
    }
    for (const auto& logical : dtypes.outputs) {
      args.insert(args.end(), {"--output", format.outputs.at(logical) + "=" + (scratch_ / (logical + ".npy")).string()});
    }
    const CommandResult result = hepinfer(args);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    for (const auto& logical : dtypes.outputs) {
      SCOPED_TRACE(logical);
      EXPECT_TENSORS_MATCH(read_npy(scratch_ / (logical + ".npy")), read_npy(reference.outputs.at(logical)), 0.0);
    }
  }
}

TEST_F(Cli, InferWritesAllSignatureOutputsByDefault) {
  const auto& multi = test::test_model("multi_io");
  const auto& format = multi.formats.at("saved_model");
  const auto& reference = multi.cases.back();
  const CommandResult result = hepinfer({"infer", format.path, "-i", "jets=" + reference.inputs.at("jets"), "-i",
                                         "event=" + reference.inputs.at("event"), "--output-dir", scratch_.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const auto& logical : multi.outputs) {
    const fs::path written = scratch_ / (format.outputs.at(logical) + ".npy");
    ASSERT_TRUE(fs::exists(written)) << written;
    EXPECT_TENSORS_MATCH(read_npy(written), read_npy(reference.outputs.at(logical)), multi.tolerance);
  }
}

TEST_F(Cli, InferSplitsInputsAboveTheBatchLimitOrTheMemoryBudget) {
  const auto& multi = test::test_model("multi_io");
  const auto& format = multi.formats.at("saved_model");
  const auto& reference = multi.cases.back();  // 5 rows
  const std::vector<std::string> run = {"infer", format.path, "-i", "jets=" + reference.inputs.at("jets"), "-i",
                                        "event=" + reference.inputs.at("event"), "--output-dir", scratch_.string()};
  std::vector<std::string> limited = run;
  limited.insert(limited.end(), {"--max-batch", "2"});
  CommandResult result = hepinfer(limited);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("batch limit 2 rows: 3 backend run(s)"), std::string::npos) << result.out;
  for (const auto& logical : multi.outputs) {
    EXPECT_TENSORS_MATCH(read_npy(scratch_ / (format.outputs.at(logical) + ".npy")),
                         read_npy(reference.outputs.at(logical)), multi.tolerance);
  }
  std::vector<std::string> budgeted = run;
  budgeted.insert(budgeted.end(), {"--memory-budget-mib", "64"});
  result = hepinfer(budgeted);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("1 backend run(s)"), std::string::npos) << "5 rows fit in 64 MiB: " << result.out;
}

TEST_F(Cli, InspectMeasuresMemory) {
  const CommandResult result =
      hepinfer({"inspect", test::test_model("mlp").formats.at("saved_model").path, "--memory", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_GT(json["memory"]["bytes_per_row"].get<std::int64_t>(), 0);
}

TEST_F(Cli, BenchRunsRequestersWithAndWithoutTheBatcher) {
  const std::string mlp = test::test_model("mlp").formats.at("frozen_graph").path;
  CommandResult result = hepinfer({"bench", mlp, "--requesters", "4", "--seconds", "0.3", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto json = nlohmann::json::parse(result.out);
  EXPECT_GT(json["requests"].get<std::int64_t>(), 0);
  EXPECT_FALSE(json.contains("batcher"));

  result = hepinfer({"bench", mlp, "--requesters", "8", "--rows", "2", "--seconds", "0.3", "--batching",
                     "--max-batch", "16", "--max-delay-us", "200", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  json = nlohmann::json::parse(result.out);
  const auto& batcher = json["batcher"];
  EXPECT_EQ(batcher["requests"], json["requests"]) << "every request went through the batcher";
  EXPECT_EQ(batcher["rows"].get<std::int64_t>(), 2 * json["requests"].get<std::int64_t>());
  EXPECT_GE(batcher["mean_batch_rows"].get<double>(), 2.0);
  EXPECT_LE(batcher["mean_batch_rows"].get<double>(), 16.0);
  EXPECT_EQ(batcher["failed_requests"], 0);

  result = hepinfer({"bench", mlp, "--seconds", "0.2", "--batching"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("mean batch"), std::string::npos) << result.out;
}

TEST_F(Cli, InferOnAFrozenGraphWithNodeNames) {
  const auto& tf1 = test::test_model("tf1_graph");
  const auto& reference = tf1.cases.back();
  const CommandResult result = hepinfer({"infer", tf1.formats.at("frozen_graph").path, "-i",
                                         "x=" + reference.inputs.at("x"), "--output-dir", scratch_.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "prob.npy"), read_npy(reference.outputs.at("prob")), tf1.tolerance);
}

TEST_F(Cli, InspectJsonDescribesSignatures) {
  const CommandResult result = hepinfer({"inspect", test::test_model("multi_io").formats.at("saved_model").path, "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json.at("format"), "SavedModel");
  EXPECT_EQ(json.at("default_signature"), "serving_default");
  bool found = false;
  for (const auto& signature : json.at("signatures")) {
    if (signature.at("key") != "serving_default") continue;
    found = true;
    ASSERT_EQ(signature.at("inputs").size(), 2u);
    for (const auto& input : signature.at("inputs")) {
      EXPECT_EQ(input.at("dtype"), "float32");
      if (input.at("name") == "jets") {
        EXPECT_EQ(input.at("shape"), nlohmann::json::array({-1, 10, 4}));
      }
    }
    EXPECT_EQ(signature.at("outputs").size(), 2u);
  }
  EXPECT_TRUE(found);
}

TEST_F(Cli, InspectTextShowsFormatAndTensors) {
  const CommandResult result = hepinfer({"inspect", test::test_model("embedding").formats.at("frozen_graph").path});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("frozen GraphDef"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("int64"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("[-1, 12]"), std::string::npos) << result.out;
}

TEST_F(Cli, InspectReportsLoadAndWarmupTiming) {
  const CommandResult result = hepinfer({"inspect", test::test_model("cnn").formats.at("saved_model").path, "--json",
                                         "--timing", "--warmup", "2", "--warmup-batch", "1", "8"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto timing = nlohmann::json::parse(result.out).at("timing");
  EXPECT_EQ(timing.at("warmup_runs"), 4);
  EXPECT_GT(timing.at("load_ms").get<double>(), 0.0);
  EXPECT_GT(timing.at("warmup_ms").get<double>(), 0.0);
}

TEST_F(Cli, InferRunsInEveryThreadingMode) {
  const auto& tf1 = test::test_model("tf1_graph");
  for (const char* mode : {"inline", "tbb", "pools", "tensorflow"}) {
    const CommandResult result = hepinfer({"infer", tf1.formats.at("frozen_graph").path, "-i",
                                           "x=" + tf1.cases.back().inputs.at("x"), "--threading", mode,
                                           "--output-dir", scratch_.string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_TENSORS_MATCH(read_npy(scratch_ / "prob.npy"), read_npy(tf1.cases.back().outputs.at("prob")), tf1.tolerance);
  }
}

TEST_F(Cli, UnknownThreadingModeFailsWithOneLine) {
  expect_one_line_error(hepinfer({"inspect", test::test_model("mlp").formats.at("saved_model").path, "--threading",
                                  "openmp"}),
                        "openmp");
}

TEST_F(Cli, MissingModelFailsWithOneLine) {
  expect_one_line_error(hepinfer({"inspect", "/no/such/model.pb"}), "/no/such/model.pb");
}

TEST_F(Cli, UnknownInputNameFailsWithOneLine) {
  const auto& tf1 = test::test_model("tf1_graph");
  expect_one_line_error(
      hepinfer({"infer", tf1.formats.at("saved_model").path, "-i", "features=" + tf1.cases.back().inputs.at("x")}),
      "features");
}

TEST_F(Cli, MalformedInputAssignmentFailsWithOneLine) {
  expect_one_line_error(hepinfer({"infer", test::test_model("mlp").formats.at("saved_model").path, "-i", "x.npy"}),
                        "NAME=FILE");
}

TEST_F(Cli, BadNpyFailsWithOneLine) {
  const fs::path bad = scratch_ / "bad.npy";
  std::ofstream(bad) << "not numpy";
  expect_one_line_error(hepinfer({"infer", test::test_model("mlp").formats.at("saved_model").path, "-i",
                                  "x=" + bad.string()}),
                        "bad.npy");
}

TEST_F(Cli, WrongDTypeFailsWithOneLine) {
  const auto& dtypes = test::test_model("dtypes");
  const auto& reference = dtypes.cases.back();
  expect_one_line_error(hepinfer({"infer", test::test_model("embedding").formats.at("saved_model").path, "-i",
                                  "ids=" + reference.inputs.at("i32")}),
                        "expected dtype int64, got int32");
}

TEST_F(Cli, NpyCommandSummarisesFiles) {
  const auto& reference = test::test_model("dtypes").cases.back();
  const CommandResult result = hepinfer({"npy", reference.inputs.at("i64")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("int64[5, 3]"), std::string::npos) << result.out;
}

// The demo job: the embedded workflow on the generated demo models, checked against Python TF.
TEST_F(Cli, RunProcessesTheDemoJobAndAgreesWithPythonTensorFlow) {
  const CommandResult result = hepinfer({"run", "--models", HEPINFER_DEMO_MODELS_DIR, "--events", "120",
                                         "--streams", "3", "--threads", "2", "--json", "--quiet"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["schema"], "hepinfer-run/1");
  EXPECT_EQ(report["job"]["events_processed"], 120);
  EXPECT_EQ(report["job"]["streams"], 3);
  EXPECT_EQ(report["job"]["threads"], 2);
  EXPECT_TRUE(report["job"]["succeeded"].get<bool>());
  EXPECT_GT(report["job"]["events_per_second"].get<double>(), 0);
  EXPECT_GT(report["job"]["peak_rss_mib"].get<double>(), 0);
  ASSERT_EQ(report["modules"].size(), 3u);
  for (const auto& module : report["modules"]) {
    EXPECT_EQ(module["calls"], 120) << module["name"];
    EXPECT_EQ(module["failed_checks"], 0) << module["first_failure"];
    EXPECT_EQ(module["reference_events_checked"], 24) << module["name"];  // every reference event
    EXPECT_LT(module["reference_max_difference"].get<double>(), 1e-4) << module["name"];
    EXPECT_EQ(module["device"], "CPU");
    EXPECT_TRUE(module["estimated_peak_mib"].is_number()) << module["name"];
  }
  EXPECT_EQ(report["modules"][0]["mode"], "async");
  EXPECT_GT(report["modules"][2]["split_runs"].get<int>(), 0);  // particle flow splits above 1024 rows
  EXPECT_EQ(report["plan"]["modules"].size(), 3u);
}

TEST_F(Cli, RunPrintsThePlanAndATablePerModule) {
  const CommandResult result = hepinfer({"run", "--models", HEPINFER_DEMO_MODELS_DIR, "--events", "30",
                                         "--batching", "off"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* expected : {"why:", "jet_tagger", "event_classifier", "particle_flow", "p99 ms", "events/s",
                               "efficiency", "peak RSS", "threads in the process", "24 vs Python TF"}) {
    EXPECT_NE(result.out.find(expected), std::string::npos) << expected << "\n" << result.out;
  }
  EXPECT_EQ(result.out.find("async"), std::string::npos);  // --batching off makes every module synchronous
  EXPECT_NE(result.err.find("progress:"), std::string::npos) << result.err;  // not a terminal: plain lines
}

TEST_F(Cli, RunOnSimulatedGpusAssignsThemInThePlan) {
  std::ofstream(scratch_ / "gpus.yaml") << "gpus: [{id: 0, memory_mib: 8192}]\n";
  const CommandResult result = hepinfer({"run", "--models", HEPINFER_DEMO_MODELS_DIR, "--events", "10", "--inventory",
                                         (scratch_ / "gpus.yaml").string(), "--json", "--quiet"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["modules"][0]["assigned_device"], "GPU 0");
  EXPECT_EQ(report["modules"][0]["device"], "CPU");  // where it ran: this TensorFlow has no GPU
  EXPECT_NE(report["modules"][0]["placement_note"].get<std::string>().find("no GPU support"), std::string::npos);
  EXPECT_EQ(report["modules"][0]["memory_budget_mib"], 2048.0);
  EXPECT_EQ(report["modules"][2]["device"], "CPU");
}

TEST_F(Cli, RunTableShowsWhereModulesRanNotOnlyWhereThePlanPutThem) {
  std::ofstream(scratch_ / "gpus.yaml") << "gpus: [{id: 0, memory_mib: 8192}]\n";
  const CommandResult result = hepinfer({"run", "--models", HEPINFER_DEMO_MODELS_DIR, "--events", "10", "--inventory",
                                         (scratch_ / "gpus.yaml").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("jet_tagger: the plan assigned GPU 0, it ran on CPU"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("jet_tagger        GPU 0"), std::string::npos) << result.out;
}

TEST_F(Cli, RunWithABadWorkflowFailsWithOneLine) {
  std::ofstream(scratch_ / "job.yaml") << "modules:\n  - name: m\n    model: m.pb\n    settings: {kind: tagger}\n";
  expect_one_line_error(hepinfer({"run", (scratch_ / "job.yaml").string()}), "modules[0].settings.kind");
  expect_one_line_error(hepinfer({"run", "--models", (scratch_ / "nowhere").string()}), "hepinfer_demo_models");
}

TEST_F(Cli, RunStopsCleanlyOnCtrlCWithAPartialSummary) {
  // A job far too long to finish; SIGINT (what Ctrl-C sends) once its event loop has started
  // (the first progress line), however slow the start (sanitizer builds).
  const std::string command = quoted(HEPINFER_CLI) + " run --models " + quoted(HEPINFER_DEMO_MODELS_DIR) +
                              " --events 100000000 --json >" + quoted((scratch_ / "stdout").string()) + " 2>" +
                              quoted((scratch_ / "stderr").string()) + " & pid=$!; for i in $(seq 1200); do grep -q progress: " + quoted((scratch_ / "stderr").string()) +
                              " && break; sleep 0.1; done; sleep 0.5; kill -INT $pid; wait $pid";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(scratch_ / "stderr");
  const nlohmann::json report = nlohmann::json::parse(slurp(scratch_ / "stdout"));
  EXPECT_TRUE(report["job"]["interrupted"].get<bool>());
  const std::int64_t processed = report["job"]["events_processed"];
  EXPECT_GT(processed, 0);
  EXPECT_LT(processed, 100000000);
  for (const auto& module : report["modules"]) {
    EXPECT_EQ(module["calls"], processed) << module["name"];  // the events in flight were finished
  }
  EXPECT_NE(slurp(scratch_ / "stderr").find("stopping after the events in flight"), std::string::npos);
}

TEST_F(Cli, ModelsWithUnsafeOpsAreRefusedUnlessAllowed) {
  const test::UnsafeModel& model = test::unsafe_models().at("write_file_frozen");
  const CommandResult refused = hepinfer({"inspect", model.path});
  expect_one_line_error(refused, "refusing op 'WriteFile'");
  EXPECT_NE(refused.err.find("error (permission denied)"), std::string::npos) << refused.err;
  EXPECT_EQ(hepinfer({"inspect", model.path, "--allow-op", "WriteFile"}).exit_code, 0);
  EXPECT_EQ(hepinfer({"inspect", model.path, "--allow-unsafe-ops"}).exit_code, 0);
}

TEST_F(Cli, InputsThatAreNotRegularFilesFailWithOneLine) {
  const std::string mlp = test::test_model("mlp").formats.at("saved_model").path;
  expect_one_line_error(hepinfer({"infer", mlp, "-i", "x=/dev/zero"}), "'/dev/zero' is a character device");
  const fs::path fifo = scratch_ / "x.npy";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_one_line_error(hepinfer({"infer", mlp, "-i", "x=" + fifo.string()}), "is a FIFO");
  expect_one_line_error(hepinfer({"infer", mlp, "-i", "x=" + scratch_.string()}), "is a directory");
  expect_one_line_error(hepinfer({"inspect", fifo.string()}), "is a FIFO");
  expect_one_line_error(hepinfer({"plan", "/dev/zero"}), "'/dev/zero' is a character device");
  expect_one_line_error(hepinfer({"run", fifo.string()}), "is a FIFO");
}

TEST_F(Cli, ASavedModelWithoutItsCheckpointFailsAtInspectWithOneLine) {
  const fs::path copy = scratch_ / "saved_model";
  fs::copy(test::test_model("mlp").formats.at("saved_model").path, copy, fs::copy_options::recursive);
  fs::remove_all(copy / "variables");
  expect_one_line_error(hepinfer({"inspect", copy.string()}), "variables.index' is missing");
}

// What training scripts write besides SavedModels and GraphDefs is named for what it is, with what
// to give hepinfer instead (files written by Keras, TF Lite, ONNX and TF: tools/make_test_models.py).
TEST_F(Cli, ModelsInOtherFormatsAreNamedWithWhatToGiveInstead) {
  const fs::path foreign = test::special_model("foreign");
  const std::vector<std::pair<fs::path, std::string>> cases{
      {foreign / "model.keras", "is a Keras archive (.keras)"},
      {foreign / "model.h5", "is an HDF5 file (Keras 2's .h5 format)"},
      {foreign / "model.tflite", "is a TensorFlow Lite model"},
      {foreign / "model.onnx", "is an ONNX model"},
      {foreign / "checkpoint", "holds a TensorFlow checkpoint"},
      {foreign / "checkpoint" / "model-1.index", "is part of a TensorFlow checkpoint"},
      {foreign / "frozen.pb.gz", "is gzip-compressed"},
      {foreign / "graphs", "is not a SavedModel (it has no saved_model.pb) but holds frozen.pb: give hepinfer the "
                           "graph file, e.g. '" + (foreign / "graphs" / "frozen.pb").string() + "'"},
      {foreign / "serving", "is not a SavedModel but holds the versions 1, 2 of a served model (TF Serving's layout): give hepinfer one of "
                            "them, e.g. '" + (foreign / "serving" / "2").string() + "'"},
  };
  for (const auto& [path, what] : cases) {
    SCOPED_TRACE(path.string());
    const std::string message = std::string("'").append(path.string()).append("' ").append(what);
    expect_one_line_error(hepinfer({"inspect", path.string()}), message);
#ifdef HEPINFER_TEST_XLA
    expect_one_line_error(hepinfer({"compile", path.string(), "-o", (scratch_ / "x.xla").string()}), message);
#endif
  }
}

// GraphDefs that parse but that TensorFlow cannot import are refused in the same words by the TF
// backend and both compilers.
TEST_F(Cli, GraphsTensorFlowCannotImportAreRefusedInOneLine) {
  const fs::path foreign = test::special_model("foreign");
  for (const auto& [file, reason] : std::vector<std::pair<std::string, std::string>>{
           {"missing_input.pb", "Node 'y': Unknown input node 'missing'"},
           {"unknown_op.pb", "Op type not registered 'NoSuchOp'"}}) {
    const std::string path = (foreign / file).string();
    SCOPED_TRACE(path);
    const std::string message = "'" + path + "' is a GraphDef TensorFlow cannot import: " + reason;
    expect_one_line_error(hepinfer({"inspect", path}), message);
#ifdef HEPINFER_TEST_XLA
    expect_one_line_error(hepinfer({"compile", path, "-o", (scratch_ / "x.xla").string()}), message);
#endif
#ifdef HEPINFER_TEST_AOT
    expect_one_line_error(hepinfer({"compile", path, "-o", (scratch_ / "x.aot").string(), "--target", "cpu-aot"}),
                          message);
#endif
    EXPECT_FALSE(fs::exists(scratch_ / "x.xla"));
  }
}

TEST_F(Cli, SuccessfulCommandsPrintNothingOnStderr) {
  // TensorFlow logs while it loads (oneDNN on AVX-512 hosts) and while it optimises float64
  // graphs (grappler); the CLI keeps both off its stderr.
  const auto& dtypes = test::test_model("dtypes");
  const auto& reference = dtypes.cases.back();
  std::vector<std::string> infer = {"infer", dtypes.formats.at("saved_model").path, "--output-dir", scratch_.string()};
  for (const std::string& input : dtypes.inputs) infer.push_back("--input=" + input + "=" + reference.inputs.at(input));
  // A float64 Keras model warns from grappler at its first session ("Not handling type DT_DOUBLE").
  const auto& f64 = test::test_model("custom_f64");
  const std::vector<std::string> infer_f64 = {"infer", f64.formats.at("saved_model_tf_save").path, "--output-dir",
                                              scratch_.string(), "--input=x=" + f64.cases.back().inputs.at("x")};
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--version"}, {"inspect", dtypes.formats.at("frozen_graph").path}, infer, infer_f64,
        {"plan", (fs::path(HEPINFER_SOURCE_DIR) / "examples/workflows/three_modules.yaml").string()},
        {"devices"}}) {
    const CommandResult result = hepinfer(args);
    EXPECT_EQ(result.exit_code, 0) << args[0] << ": " << result.err;
    EXPECT_EQ(result.err, "") << args[0];
  }
}

TEST_F(Cli, VerboseShowsTheLibrariesLogs) {
  const CommandResult version = hepinfer({"--version"});
  ASSERT_EQ(version.exit_code, 0);
  const bool onednn = version.out.find("oneDNN on") != std::string::npos;
  EXPECT_TRUE(onednn || version.out.find("oneDNN off") != std::string::npos) << version.out;
  const CommandResult verbose = hepinfer({"inspect", test::test_model("mlp").formats.at("frozen_graph").path, "--verbose"});
  EXPECT_EQ(verbose.exit_code, 0) << verbose.err;
  // TF announces oneDNN while it loads, which only --verbose lets through.
  if (onednn) {
    EXPECT_NE(verbose.err.find("oneDNN custom operations are on"), std::string::npos) << verbose.err;
  }
  EXPECT_NE(verbose.out.find("runtime: TensorFlow"), std::string::npos) << verbose.out;
}

#ifdef HEPINFER_TEST_XLA
TEST_F(Cli, CompiledModelsRunOnTheXlaBackendAndAgreeWithPython) {
  const auto& mlp = test::test_model("mlp");
  const fs::path artifact = scratch_ / "mlp.xla";
  const CommandResult compiled =
      hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", artifact.string(), "--batch-sizes", "1,4"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  EXPECT_EQ(compiled.err, "");
  const CommandResult inspected = hepinfer({"inspect", artifact.string(), "--json"});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  EXPECT_EQ(inspected.err, "");
  const nlohmann::json inspection = nlohmann::json::parse(inspected.out);
  EXPECT_EQ(inspection.at("backend"), "xla");
  EXPECT_EQ(inspection.at("load_details").at("matmul precision"), "highest (float32 products in float32)");
  const auto& reference = mlp.cases.back();  // 5 rows: split over the compiled 4 and 1
  const CommandResult inferred = hepinfer({"infer", artifact.string(), "-i", "x=" + reference.inputs.at("x"),
                                           "--output", "output_0=" + (scratch_ / "prob.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_EQ(inferred.err, "");
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "prob.npy"), read_npy(reference.outputs.at("prob")), 2e-5);
}

TEST_F(Cli, Tf32ProductsAreAChoiceRecordedInTheArtifact) {
  const auto& mlp = test::test_model("mlp");
  const fs::path artifact = scratch_ / "mlp_tf32.xla";
  const CommandResult compiled = hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", artifact.string(),
                                           "--batch-sizes", "4", "--matmul-precision", "default"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  std::ifstream manifest(artifact / "manifest.json");
  EXPECT_EQ(nlohmann::json::parse(manifest).at("matmul_precision"), "default");
  // The CPU computes float32 products either way: the same agreement as "highest".
  const auto& reference = mlp.cases.back();
  const CommandResult inferred = hepinfer({"infer", artifact.string(), "-i", "x=" + reference.inputs.at("x"),
                                           "--output", "output_0=" + (scratch_ / "prob.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "prob.npy"), read_npy(reference.outputs.at("prob")), 2e-5);
  expect_one_line_error(hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", (scratch_ / "x.xla").string(),
                                  "--matmul-precision", "bf16"}),
                        "--matmul-precision");
  expect_one_line_error(hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", (scratch_ / "x.aot").string(),
                                  "--target", "cpu-aot", "--matmul-precision", "default"}),
                        "--matmul-precision applies to --target pjrt");
}

TEST_F(Cli, PinnedHostVariantsAreWrittenOnRequestAndRunOnGpusOnly) {
  const auto& mlp = test::test_model("mlp");
  const fs::path artifact = scratch_ / "mlp_pinned.xla";
  const CommandResult compiled = hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", artifact.string(),
                                           "--batch-sizes", "1,4", "--pinned-host-io"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  EXPECT_EQ(compiled.err, "");
  const nlohmann::json manifest = nlohmann::json::parse(std::ifstream(artifact / "manifest.json"));
  for (const auto& program : manifest.at("programs")) {
    EXPECT_TRUE(fs::is_regular_file(artifact / program.at("pinned_host_io").at("file").get<std::string>()))
        << program.dump();
  }
  const CommandResult inspected = hepinfer({"inspect", artifact.string(), "--json"});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  const std::string line = nlohmann::json::parse(inspected.out).at("load_details").at("pinned host I/O");
  EXPECT_NE(line.find("0 of 2 programs"), std::string::npos) << line;
  EXPECT_NE(line.find("on GPUs only"), std::string::npos) << line;
  const auto& reference = mlp.cases.back();
  const CommandResult inferred = hepinfer({"infer", artifact.string(), "-i", "x=" + reference.inputs.at("x"),
                                           "--output", "output_0=" + (scratch_ / "prob.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "prob.npy"), read_npy(reference.outputs.at("prob")), 2e-5);

  // HLO modules (a program no StableHLO version expresses) get none, and say so.
  const fs::path gelu = scratch_ / "gelu_pinned.xla";
  const CommandResult hlo = hepinfer({"compile", test::test_model("exact_gelu").formats.at("saved_model").path, "-o",
                                      gelu.string(), "--batch-sizes", "2", "--pinned-host-io"});
  ASSERT_EQ(hlo.exit_code, 0) << hlo.err;
  EXPECT_NE(hlo.out.find("HLO modules get no pinned-host variant"), std::string::npos) << hlo.out;
  EXPECT_FALSE(nlohmann::json::parse(std::ifstream(gelu / "manifest.json")).at("programs")[0].contains("pinned_host_io"));
  expect_one_line_error(hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", (scratch_ / "x.aot").string(),
                                  "--target", "cpu-aot", "--pinned-host-io"}),
                        "--pinned-host-io applies to --target pjrt");
}

TEST_F(Cli, WeightsAreFedAsParametersOnRequest) {
  const auto& lstm = test::test_model("lstm");  // variables read inside a While loop
  const fs::path artifact = scratch_ / "lstm_parameters.xla";
  const CommandResult compiled = hepinfer({"compile", lstm.formats.at("saved_model").path, "-o", artifact.string(),
                                           "--batch-sizes", "1,4", "--weights", "parameters"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  EXPECT_EQ(compiled.err, "");
  const nlohmann::json manifest = nlohmann::json::parse(std::ifstream(artifact / "manifest.json"));
  EXPECT_EQ(manifest.at("weights").at("layout"), "parameters");
  EXPECT_TRUE(fs::is_regular_file(artifact / "weights.bin"));
  const CommandResult inspected = hepinfer({"inspect", artifact.string(), "--json"});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  const std::string line = nlohmann::json::parse(inspected.out).at("load_details").at("weights");
  EXPECT_NE(line.find("fed to every program as parameters"), std::string::npos) << line;
  const auto& format = lstm.formats.at("saved_model");
  const auto& reference = lstm.cases.back();
  std::vector<std::string> infer{"infer", artifact.string(), "--output-dir", scratch_.string()};
  for (const auto& [logical, file] : reference.inputs) {
    infer.insert(infer.end(), {"-i", format.inputs.at(logical) + "=" + file});
  }
  const CommandResult inferred = hepinfer(infer);
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  for (const auto& logical : lstm.outputs) {
    const fs::path written = scratch_ / (format.outputs.at(logical) + ".npy");
    ASSERT_TRUE(fs::exists(written)) << written;
    EXPECT_TENSORS_MATCH(read_npy(written), read_npy(reference.outputs.at(logical)), 2e-5) << logical;
  }

  // Small models are baked in unless told otherwise; tf2xla compiles TF1 loops with their constants.
  const fs::path baked = scratch_ / "lstm_auto.xla";
  ASSERT_EQ(hepinfer({"compile", lstm.formats.at("saved_model").path, "-o", baked.string(), "--batch-sizes", "2"})
                .exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(baked / "manifest.json")).at("weights"), "baked into each program");
  expect_one_line_error(hepinfer({"compile", lstm.formats.at("frozen_graph").path, "-o", (scratch_ / "f.xla").string(),
                                  "--weights", "parameters"}),
                        "has TF1 loops");
  expect_one_line_error(hepinfer({"compile", lstm.formats.at("saved_model").path, "-o", (scratch_ / "x.aot").string(),
                                  "--target", "cpu-aot", "--weights", "parameters"}),
                        "--weights applies to --target pjrt");
}

TEST_F(Cli, FrozenGraphsCompileAndTheirTensorsKeepTheirGraphNames) {
  const auto& mlp = test::test_model("mlp");
  const fs::path artifact = scratch_ / "mlp_frozen.xla";
  const CommandResult compiled =
      hepinfer({"compile", mlp.formats.at("frozen_graph").path, "-o", artifact.string(), "--batch-sizes", "4"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  const auto& reference = mlp.cases.back();
  const CommandResult inferred = hepinfer({"infer", artifact.string(), "-i", "x:0=" + reference.inputs.at("x"),
                                           "--output", "Identity:0=" + (scratch_ / "prob.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "prob.npy"), read_npy(reference.outputs.at("prob")), 2e-5);
}

TEST_F(Cli, CompilingWhatXlaCannotTakeFailsWithOneLine) {
  expect_one_line_error(hepinfer({"compile", test::test_model("vocab_table").formats.at("saved_model").path, "-o",
                                  (scratch_ / "x.xla").string()}),
                        "LookupTableFindV2 (lookup tables)");
  expect_one_line_error(hepinfer({"compile", test::special_model("stateful_counter"), "-o", (scratch_ / "x.xla").string()}),
                        "the model writes its variables (AssignVariableOp)");
  expect_one_line_error(hepinfer({"compile", test::broken_model("unfrozen"), "-o", (scratch_ / "x.xla").string()}),
                        "is not a frozen graph: node 'w1' is a VarHandleOp");
  expect_one_line_error(hepinfer({"compile", scratch_.string(), "-o", (scratch_ / "y.xla").string()}),
                        "without saved_model.pb");
  const fs::path strings = fs::path(test::special_model("unsupported_dtypes")) / "strings_only";
  expect_one_line_error(hepinfer({"compile", strings.string(), "-o", (scratch_ / "x.xla").string()}),
                        "input 'text' has dtype string");
  expect_one_line_error(hepinfer({"inspect", strings.string()}), "input 'text' has dtype string");
  expect_one_line_error(hepinfer({"compile", test::test_model("mlp").formats.at("saved_model").path, "-o",
                                  (scratch_ / "x.xla").string(), "--batch-sizes", "0"}),
                        "expected positive integers");
  EXPECT_FALSE(fs::exists(scratch_ / "x.xla")) << "a failed compile leaves no directory behind";
}

// An op XLA has no kernel for is named with its node, in one line, by both compilers; what XLA
// compiles but its ahead-of-time code generator cannot emit (an FFT) says where it runs instead.
TEST_F(Cli, CompilingAnOpXlaLacksNamesItAndItsNode) {
  const std::string model = fs::path(test::special_model("beyond_xla")) / "saved_model";
  const std::string lacking = "XLA has no kernel for BesselJ0 (node 'bessel_j0/BesselJ0')";
  expect_one_line_error(hepinfer({"compile", model, "-o", (scratch_ / "x.xla").string(), "--batch-sizes", "1"}),
                        lacking);
#ifdef HEPINFER_TEST_AOT
  expect_one_line_error(hepinfer({"compile", model, "-o", (scratch_ / "x.aot").string(), "--batch-sizes", "1",
                                  "--target", "cpu-aot"}),
                        lacking);
  expect_one_line_error(hepinfer({"compile", model, "--signature", "fft", "-o", (scratch_ / "fft.aot").string(),
                                  "--batch-sizes", "1", "--target", "cpu-aot"}),
                        "Unsupported thunk type: fft: XLA's ahead-of-time code generator lacks what the model needs; "
                        "compile it with --target pjrt");
#endif
  const CommandResult compiled = hepinfer({"compile", model, "--signature", "fft", "-o",
                                           (scratch_ / "fft.xla").string(), "--batch-sizes", "1"});
  EXPECT_EQ(compiled.exit_code, 0) << compiled.err;
  EXPECT_FALSE(fs::exists(scratch_ / "x.xla") || fs::exists(scratch_ / "x.aot") || fs::exists(scratch_ / "fft.aot"));
}

// TF reads a SavedModel whose graph is saved_model.pbtxt and a GraphDef in text (.pbtxt) as it reads
// the binary ones; so do both compilers.
TEST_F(Cli, TextSavedModelsAndGraphDefsCompileAndAgree) {
  const fs::path text = test::special_model("text_formats");
  struct Source {
    fs::path model;
    std::string output;
  };
  const std::vector<Source> sources{{text / "saved_model", "out"}, {text / "frozen.pbtxt", "Identity"}};
  for (const Source& source : sources) {
    const std::vector<fs::path> runnables = model_and_compiled(source.model, source.model.stem().string());
    ASSERT_FALSE(runnables.empty());
    for (const fs::path& runnable : runnables) {
      SCOPED_TRACE(runnable.string());
      const CommandResult inferred = hepinfer({"infer", runnable.string(), "-i", "x=" + (text / "input.npy").string(),
                                               "-o", source.output + "=" + (scratch_ / "out.npy").string()});
      ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
      EXPECT_TENSORS_MATCH(read_npy(scratch_ / "out.npy"), read_npy(text / "reference.npy"), 2e-6);
    }
  }
}

// A model that divides by an integer input compiles (the compilers probe it with ones and twos) and
// agrees with TF. A zero divisor TF refuses; the compiled backends answer it as XLA defines
// integer division by zero (x / 0 = -1, x % 0 = x), as docs/xla.md says.
// The compilers give the TF backend's advice for a SavedModel saved without signatures.
TEST_F(Cli, CompilingASavedModelWithoutSignaturesSaysHowToSaveOne) {
  const fs::path model = test::special_model("no_signatures");
  for (const char* target : {"pjrt", "cpu-aot"}) {
    SCOPED_TRACE(target);
    const CommandResult compiled =
        hepinfer({"compile", model.string(), "-o", (scratch_ / "out").string(), "--target", target});
    expect_one_line_error(compiled, "has no signatures, so nothing says what to feed and fetch");
    EXPECT_NE(compiled.err.find("model.export(DIR)"), std::string::npos) << compiled.err;
  }
}

TEST_F(Cli, ModelsThatDivideByAnIntegerInputCompileAndAgree) {
  const fs::path model = test::special_model("integer_division");
  const std::vector<fs::path> runnables = model_and_compiled(model / "saved_model", "integer_division");
  ASSERT_FALSE(runnables.empty());
  const std::vector<std::string> outputs{"quotient", "remainder", "truncated"};
  for (const fs::path& runnable : runnables) {
    SCOPED_TRACE(runnable.string());
    std::vector<std::string> command{"infer", runnable.string(), "-i", "counts=" + (model / "counts.npy").string(),
                                     "-i", "divisors=" + (model / "divisors.npy").string(), "--output-dir",
                                     scratch_.string()};
    const CommandResult inferred = hepinfer(command);
    ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
    for (const std::string& output : outputs) {
      EXPECT_TENSORS_MATCH(read_npy(scratch_ / (output + ".npy")), read_npy(model / ("reference_" + output + ".npy")), 0);
    }
    command[5] = "divisors=" + (model / "zero_divisors.npy").string();
    const CommandResult by_zero = hepinfer(command);
    if (runnable == runnables.front()) {
      expect_one_line_error(by_zero, "Integer division by zero");
    } else {
      ASSERT_EQ(by_zero.exit_code, 0) << by_zero.err;
      EXPECT_EQ(read_npy(scratch_ / "quotient.npy").values<std::int32_t>()[0], -1);
      EXPECT_EQ(read_npy(scratch_ / "remainder.npy").values<std::int32_t>()[0], 7);
    }
  }
}

// NaN (a missing feature) and infinities reach the outputs as TF's kernels let them: a max over
// particles that meets a NaN is NaN (XLA's CPU default would skip it), on the TF backend, a PJRT
// artifact and an AOT package alike.
TEST_F(Cli, NanAndInfinityPropagateAsInTensorFlow) {
  const fs::path model = test::special_model("non_finite");
  const std::vector<fs::path> runnables = model_and_compiled(model / "saved_model", "non_finite");
  ASSERT_FALSE(runnables.empty());
  const std::vector<std::string> outputs{"max", "min", "pooled", "sum", "relu", "clipped", "cleaned", "dense"};
  for (const fs::path& runnable : runnables) {
    std::vector<std::string> command{"infer", runnable.string(), "-i", "x=" + (model / "input.npy").string()};
    for (const std::string& output : outputs) {
      command.insert(command.end(), {"-o", output + "=" + (scratch_ / (output + ".npy")).string()});
    }
    const CommandResult inferred = hepinfer(command);
    ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
    for (const std::string& output : outputs) {
      SCOPED_TRACE(runnable.string() + ": " + output);
      EXPECT_TENSORS_MATCH(read_npy(scratch_ / (output + ".npy")), read_npy(model / ("reference_" + output + ".npy")),
                           2e-6);
    }
  }
}

// An embedding's index outside its table: TF refuses the run, and so do the compiled backends
// (whose gathers would clamp it), naming the input; indices Keras wraps (-1: the last row) agree.
// With the weights fed as parameters the table is a parameter, and its range is found all the same.
TEST_F(Cli, IndicesOutsideAnEmbeddingsTableAreRefusedAsTensorFlowRefusesThem) {
  const std::string model = test::test_model("embedding").formats.at("saved_model").path;
  std::vector<fs::path> runnables = model_and_compiled(model, "embedding");
  ASSERT_FALSE(runnables.empty());
  runnables.push_back(scratch_ / "embedding.parameters.xla");
  const CommandResult compiled = hepinfer({"compile", model, "-o", runnables.back().string(), "--batch-sizes", "1,4",
                                           "--weights", "parameters"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  std::vector<std::int64_t> ids(3 * 12);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i * 37 % 200) - 100;  // [-100, 100)
  write_npy(scratch_ / "inside.npy", Tensor::from_values<std::int64_t>(Shape({3, 12}), ids));
  ids[12 + 3] = 150;
  write_npy(scratch_ / "outside.npy", Tensor::from_values<std::int64_t>(Shape({3, 12}), ids));
  for (const fs::path& runnable : runnables) {
    SCOPED_TRACE(runnable.string());
    const fs::path output = scratch_ / (runnable.filename().string() + ".npy");
    const CommandResult inferred = hepinfer(
        {"infer", runnable.string(), "-i", "ids=" + (scratch_ / "inside.npy").string(), "-o", "output_0=" + output.string()});
    ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
    EXPECT_TENSORS_MATCH(read_npy(output), read_npy(scratch_ / (fs::path(model).filename().string() + ".npy")), 2e-6);
    const std::string refusal = runnable == fs::path(model) ? "= 150 is not in [0, 100)"
                                                            : "input 'ids' holds 150 in row 1, outside [-100, 100)";
    expect_one_line_error(hepinfer({"infer", runnable.string(), "-i", "ids=" + (scratch_ / "outside.npy").string()}),
                          refusal);
  }
}

// XLA compiles static shapes: a signature that leaves a particle count unknown compiles once the
// count is fixed, and runs then take exactly that count.
TEST_F(Cli, UnknownDimensionsAreFixedAtCompileTime) {
  const fs::path model = test::special_model("variable_length");
  const fs::path artifact = scratch_ / "particles.xla";
  expect_one_line_error(hepinfer({"compile", (model / "saved_model").string(), "-o", artifact.string()}),
                        "--input-shape particles=D1,D2");
  expect_one_line_error(hepinfer({"compile", (model / "saved_model").string(), "-o", artifact.string(),
                                  "--input-shape", "particles=5,7"}),
                        "does not fit input 'particles'");
  const CommandResult compiled = hepinfer({"compile", (model / "saved_model").string(), "-o", artifact.string(),
                                           "--batch-sizes", "2", "--input-shape", "particles=5,6"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  const CommandResult inferred = hepinfer({"infer", artifact.string(), "-i",
                                           "particles=" + (model / "particles_5.npy").string(), "--output-dir",
                                           (scratch_ / "results").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "results" / "summed.npy"), read_npy(model / "summed_5.npy"), 2e-5);
  write_npy(scratch_ / "four.npy", Tensor(DType::kFloat32, Shape{3, 4, 6}));
  expect_one_line_error(hepinfer({"infer", artifact.string(), "-i", "particles=" + (scratch_ / "four.npy").string()}),
                        "expected shape [-1, 5, 6], got [3, 4, 6]");
}

std::set<std::string> files_in(const fs::path& directory) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.insert(entry.path().filename().string());
  return names;
}

// An artifact is written whole or not at all: a recompile replaces every file of the earlier one,
// a failed compile leaves the earlier one as it was, and a directory that is not an artifact is
// never replaced.
TEST_F(Cli, ACompileReplacesTheWholeArtifactOrNothing) {
  const std::string model = test::test_model("tf1_graph").formats.at("saved_model").path;
  const fs::path artifact = scratch_ / "model.xla";
  const CommandResult first = hepinfer({"compile", model, "-o", artifact.string(), "--batch-sizes", "1,8"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(files_in(artifact), (std::set<std::string>{"b1.mlirbc", "b8.mlirbc", "manifest.json"}));
  const CommandResult second = hepinfer({"compile", model, "-o", artifact.string(), "--batch-sizes", "2"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(files_in(artifact), (std::set<std::string>{"b2.mlirbc", "manifest.json"}));

  expect_one_line_error(hepinfer({"compile", test::test_model("vocab_table").formats.at("saved_model").path, "-o",
                                  artifact.string()}),
                        "lookup tables");
  EXPECT_EQ(files_in(artifact), (std::set<std::string>{"b2.mlirbc", "manifest.json"}));

  const fs::path other = scratch_ / "notes";
  fs::create_directories(other);
  std::ofstream(other / "notes.txt") << "not an artifact\n";
  expect_one_line_error(hepinfer({"compile", model, "-o", other.string()}), "refusing to replace it");
  EXPECT_EQ(files_in(other), std::set<std::string>{"notes.txt"});
  for (const std::string& name : files_in(scratch_)) EXPECT_NE(name.front(), '.') << "a staging directory left behind";
}

// The compilers name a signature's tensors by its keys, as the TF backend does, also where the keys
// are not Python names (tf.function sanitizes 'jet.pt-eta' to 'jet_pt_eta' for its arguments).
TEST_F(Cli, CompiledArtifactsKeepTheSignaturesKeys) {
  const fs::path model = test::special_model("awkward_names");
  const std::vector<fs::path> runnables = model_and_compiled(model / "saved_model", "names");
  ASSERT_FALSE(runnables.empty());
  for (const fs::path& runnable : runnables) {
    SCOPED_TRACE(runnable.string());
    const CommandResult inferred = hepinfer({"infer", runnable.string(), "-i", "jet.pt-eta=" + (model / "input.npy").string(),
                                             "-o", "tagger/probs:0=" + (scratch_ / "probs.npy").string()});
    ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
    EXPECT_TENSORS_MATCH(read_npy(scratch_ / "probs.npy"), read_npy(model / "reference.npy"), 2e-6);
  }
}

// A signature that fixes the batch ([1, 4]) compiles at that batch alone, and runs of more rows are
// split into it; other batch sizes are refused by name.
TEST_F(Cli, ASignatureThatFixesTheBatchCompilesThatBatchAlone) {
  const fs::path model = test::special_model("fixed_batch");
  const fs::path artifact = scratch_ / "fixed.xla";
  expect_one_line_error(hepinfer({"compile", (model / "saved_model").string(), "-o", artifact.string(),
                                  "--batch-sizes", "1,8"}),
                        "input 'x' has shape [1, 4]: its batch is fixed at 1");
  const CommandResult compiled = hepinfer({"compile", (model / "saved_model").string(), "-o", artifact.string()});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  EXPECT_EQ(files_in(artifact), (std::set<std::string>{"b1.mlirbc", "manifest.json"}));
  const CommandResult inferred = hepinfer({"infer", artifact.string(), "-i", "x=" + (model / "input.npy").string(), "-o",
                                           "out=" + (scratch_ / "out.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "out.npy"), read_npy(model / "reference.npy"), 2e-6);
}

// Inputs fed whole with every run (a scalar, a table whose first dimension the signature fixes
// beside an open batch) are compiled at their own shape, and neither padded nor split, on every
// backend, even when the table has as many rows as the batch (3 here).
TEST_F(Cli, PerCallInputsAreFedWholeToEveryRunAndPart) {
  const fs::path model = test::special_model("per_call_inputs");
  const std::vector<std::string> inputs{"-i", "x=" + (model / "input.npy").string(),
                                        "scale=" + (model / "scale.npy").string(),
                                        "table=" + (model / "table.npy").string()};
  const auto infer = [&](const fs::path& path, std::vector<std::string> extra) {
    std::vector<std::string> args{"infer", path.string()};
    args.insert(args.end(), inputs.begin(), inputs.end());
    args.insert(args.end(), {"-o", "out=" + (scratch_ / "out.npy").string()});
    args.insert(args.end(), extra.begin(), extra.end());
    const CommandResult inferred = hepinfer(args);
    ASSERT_EQ(inferred.exit_code, 0) << path << ": " << inferred.err;
    EXPECT_TENSORS_MATCH(read_npy(scratch_ / "out.npy"), read_npy(model / "reference.npy"), 2e-6);
  };
  infer(model / "saved_model", {"--max-batch", "2"});
  const fs::path artifact = scratch_ / "per_call.xla";
  const CommandResult compiled = hepinfer({"compile", (model / "saved_model").string(), "-o", artifact.string(),
                                           "--batch-sizes", "1,2"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  infer(artifact, {});
  const CommandResult inspected = hepinfer({"inspect", artifact.string()});
  EXPECT_NE(inspected.out.find("table  float32  [3, 4]"), std::string::npos) << inspected.out;
  EXPECT_NE(inspected.out.find("scale  float32  []"), std::string::npos) << inspected.out;
#ifdef HEPINFER_TEST_AOT
  const fs::path package = scratch_ / "per_call.aot";
  const CommandResult packaged = hepinfer({"compile", (model / "saved_model").string(), "-o", package.string(),
                                           "--target", "cpu-aot", "--batch-sizes", "2"});
  ASSERT_EQ(packaged.exit_code, 0) << packaged.err;
  infer(package, {});
#endif
}

// An output whose length depends on the values (tf.boolean_mask) is only bounded by XLA, whose
// program would return it padded with unset rows: both compilers refuse it, naming it. The TF
// backend runs it.
TEST_F(Cli, OutputsWhoseLengthDependsOnTheValuesAreRefusedByTheCompilers) {
  const fs::path model = test::special_model("value_dependent_shape");
  const std::string saved_model = (model / "saved_model").string();
  expect_compilers_refuse(saved_model, "output 'kept' has a length that depends on the input values");
  const CommandResult inferred = hepinfer({"infer", saved_model, "-i", "x=" + (model / "input.npy").string(), "-o",
                                           "kept=" + (scratch_ / "kept.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  const Tensor input = read_npy(model / "input.npy"), kept = read_npy(scratch_ / "kept.npy");
  std::int64_t positive = 0;
  for (std::int64_t row = 0; row < input.rows(); ++row) positive += input.values<float>()[static_cast<std::size_t>(row * 4)] > 0;
  EXPECT_EQ(kept.rows(), positive);
}

// A ragged particle list reaches a signature as values and row splits, whose first dimensions are
// not the batch's: the compilers refuse it, saying what to export instead.
TEST_F(Cli, RaggedInputsAreRefusedByTheCompilers) {
  expect_compilers_refuse((fs::path(test::special_model("ragged_input")) / "saved_model").string(),
                          "the signature's function takes a ragged tensor, which the signature feeds as several "
                          "tensors (its inputs particles, particles_1: values, row splits or indices)");
}

// The TF backend runs a ragged signature; its components (values, row splits) are never cut or
// joined as rows, even when they happen to have as many as each other.
TEST_F(Cli, RaggedInputsRunWholeOnTheTensorFlowBackend) {
  const fs::path model = test::special_model("ragged_input");
  const std::string saved_model = (model / "saved_model").string();
  const CommandResult inspected = hepinfer({"inspect", saved_model});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  EXPECT_NE(inspected.out.find("particles_1  int64    [-1]                (serving_default_particles_1:0)  part of a "
                               "ragged or sparse tensor"),
            std::string::npos)
      << inspected.out;
  const CommandResult inferred =
      hepinfer({"infer", saved_model, "-i", "particles=" + (model / "values.npy").string(),
                "particles_1=" + (model / "row_splits.npy").string(), "--max-batch", "1", "-o",
                "summed=" + (scratch_ / "summed.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "summed.npy"), read_npy(model / "reference.npy"), 1e-6);
}

// Padding a run to a compiled batch, or splitting it, changes the results of a model whose rows mix
// (each row minus the batch's mean) or that counts its rows (each row divided by their number):
// both compilers refuse them before compiling anything, as they refuse outputs whose rows lie along
// another dimension than the first, which the splitter refuses too.
TEST_F(Cli, ModelsWhoseRowsMixAreRefused) {
  const std::string mixing = (fs::path(test::special_model("batch_statistics")) / "saved_model").string();
  expect_one_line_error(hepinfer({"compile", mixing, "-o", (scratch_ / "mixed.xla").string()}),
                        "output 'out' changes in one row when another row of the batch changes");
  const std::string counting = (fs::path(test::special_model("batch_count")) / "saved_model").string();
  expect_one_line_error(hepinfer({"compile", counting, "-o", (scratch_ / "mixed.xla").string()}),
                        "output 'out' changes in a row with the number of rows in its batch");
  // A transposed output has its rows along another dimension: named as such, not as mixing rows.
  const fs::path rows_last = test::special_model("rows_last");
  expect_one_line_error(hepinfer({"compile", (rows_last / "saved_model").string(), "-o", (scratch_ / "mixed.xla").string()}),
                        "output 'out' is [4, 2] for 2 rows: not one row per input row along its first dimension");
  expect_one_line_error(hepinfer({"infer", (rows_last / "saved_model").string(), "-i",
                                  "x=" + (rows_last / "input.npy").string(), "--max-batch", "2", "--output-dir",
                                  scratch_.string()}),
                        "output 'out' is float32[4, 2] for a chunk of 2 rows");
#ifdef HEPINFER_TEST_AOT
  expect_one_line_error(hepinfer({"compile", mixing, "-o", (scratch_ / "mixed.aot").string(), "--target", "cpu-aot"}),
                        "the AOT backend pads and splits batches");
#endif
  EXPECT_FALSE(fs::exists(scratch_ / "mixed.xla"));
}

#endif

#ifdef HEPINFER_TEST_AOT
TEST_F(Cli, AotPackagesRunOnTheAotBackendAndAgreeWithPython) {
  const auto& mlp = test::test_model("mlp");
  const fs::path package = scratch_ / "mlp.aot";
  const CommandResult compiled = hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", package.string(),
                                           "--target", "cpu-aot", "--batch-sizes", "1,4"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  EXPECT_EQ(compiled.err, "");
  const CommandResult inspected = hepinfer({"inspect", package.string(), "--json"});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  EXPECT_EQ(nlohmann::json::parse(inspected.out).at("backend"), "aot");
  const auto& reference = mlp.cases.back();  // 5 rows: split over the compiled 4 and 1
  const CommandResult inferred = hepinfer({"infer", package.string(), "-i", "x=" + reference.inputs.at("x"),
                                           "--output", "output_0=" + (scratch_ / "prob.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_EQ(inferred.err, "");
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "prob.npy"), read_npy(reference.outputs.at("prob")), 2e-5);
  const CommandResult benched = hepinfer({"bench", package.string(), "--requesters", "4", "--rows", "3", "--seconds", "0.2"});
  EXPECT_EQ(benched.exit_code, 0) << benched.err;
}

// --tune times XLA's code-generation choices for each batch size on this CPU and keeps the fastest:
// whichever it keeps, the package must agree with TensorFlow.
TEST_F(Cli, TunesAnAotPackageOnThisCpu) {
  const auto& mlp = test::test_model("mlp");
  const fs::path package = scratch_ / "mlp.tuned.aot";
  const CommandResult compiled = hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", package.string(),
                                           "--target", "cpu-aot", "--target-cpu", "native", "--batch-sizes", "1,4",
                                           "--tune"});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  std::ifstream manifest_file(package / "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(manifest_file);
  const std::string level = manifest.at("target").at("cpu");
  for (const std::string batch : {"1", "4"}) {
    const nlohmann::json& tuned = manifest.at("tuning").at(level).at(batch);
    const nlohmann::json& medians = tuned.at("median_us");
    EXPECT_GE(medians.size(), 2u) << tuned;
    EXPECT_TRUE(medians.contains("default")) << tuned;
    EXPECT_TRUE(medians.contains(tuned.at("chosen").get<std::string>())) << tuned;
    for (const auto& [candidate, median] : medians.items()) EXPECT_GT(median.get<double>(), 0.0) << candidate;
  }
  const CommandResult inspected = hepinfer({"inspect", package.string()});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  EXPECT_NE(inspected.out.find("1: " + manifest["tuning"][level]["1"]["chosen"].get<std::string>()),
            std::string::npos)
      << inspected.out;
  const auto& reference = mlp.cases.back();  // 5 rows: split over the compiled 4 and 1
  const CommandResult inferred = hepinfer({"infer", package.string(), "-i", "x=" + reference.inputs.at("x"),
                                           "--output", "output_0=" + (scratch_ / "tuned.npy").string()});
  ASSERT_EQ(inferred.exit_code, 0) << inferred.err;
  EXPECT_TENSORS_MATCH(read_npy(scratch_ / "tuned.npy"), read_npy(reference.outputs.at("prob")), 2e-5);
  expect_one_line_error(hepinfer({"compile", mlp.formats.at("saved_model").path, "-o", (scratch_ / "x.xla").string(),
                                  "--tune"}),
                        "--tune applies to --target cpu-aot");
}

TEST_F(Cli, RunsTheDemoJobOnAotPackages) {
  const CommandResult result =
      hepinfer({"run", std::string(HEPINFER_SOURCE_DIR) + "/examples/workflows/aot_job.yaml", "--models",
                HEPINFER_DEMO_MODELS_DIR, "--events", "120", "--threads", "2", "--json", "--quiet"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json report = nlohmann::json::parse(result.out);
  EXPECT_TRUE(report["job"]["succeeded"].get<bool>());
  ASSERT_EQ(report["modules"].size(), 3u);
  for (const auto& module : report["modules"]) {
    EXPECT_EQ(module["calls"], 120) << module["name"];
    EXPECT_EQ(module["failed_checks"], 0) << module["first_failure"];
    EXPECT_EQ(module["reference_events_checked"], 24) << module["name"];
    EXPECT_LT(module["reference_max_difference"].get<double>(), 1e-4) << module["name"];
  }
}

TEST_F(Cli, CompilingForAnUnknownCpuFailsWithOneLine) {
  const std::string mlp = test::test_model("mlp").formats.at("saved_model").path;
  expect_one_line_error(hepinfer({"compile", mlp, "-o", (scratch_ / "x.aot").string(), "--target", "cpu-aot",
                                  "--target-cpu", "pentium"}),
                        "--target-cpu 'pentium'");
  expect_one_line_error(hepinfer({"compile", mlp, "-o", (scratch_ / "x.xla").string(), "--target-cpu", "native"}),
                        "--target-cpu applies to --target cpu-aot");
  // The AOT compiler reads the model as the XLA one does, --input-shape included.
  expect_one_line_error(hepinfer({"compile", (fs::path(test::special_model("variable_length")) / "saved_model").string(),
                                  "-o", (scratch_ / "x.aot").string(), "--target", "cpu-aot", "--input-shape",
                                  "particles=5,7"}),
                        "does not fit input 'particles'");
}
#endif

}  // namespace
}  // namespace hepinfer
