// The `hepinfer` command line: inspect, infer, bench, run and plan on real models, through real
// .npy files (`hepinfer compile`'s tests are in compile_test.cpp).

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "cli_fixture.h"
#include "hepinfer/core/npy.h"
#include "nlohmann/json.hpp"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer {
namespace {

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

#ifdef HEPINFER_TEST_AOT
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
#endif

}  // namespace
}  // namespace hepinfer
