// `hepinfer compile`: XLA artifacts and AOT packages made from real models by the Python compilers,
// run through the CLI and checked against Python TensorFlow; what the compilers refuse, and how.
// Labelled `compile` (tests/cli/CMakeLists.txt): their time is the compilers', so the stages that
// run the suite again (oneDNN the other way; ASan, but for three) leave them out.

#include <gtest/gtest.h>

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
