// `hepinfer compile MODEL -o OUT [--target pjrt|cpu-aot] [--batch-sizes 1,8,64] [--signature KEY]
//  [--input-shape NAME=D1,D2,...]`:
// a SavedModel or a frozen GraphDef into an XLA artifact for the XLA backend (compile_xla.py) or
// an ahead-of-time compiled package for the AOT backend (compile_aot.py), by the project's Python
// TensorFlow.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.h"
#include "data_files.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"
#include "hepinfer/core/model_path_advice.h"

namespace hepinfer::cli {
namespace {

// $HEPINFER_PYTHON, else the interpreter hepinfer was configured with.
std::string python_interpreter() {
  if (const char* python = std::getenv("HEPINFER_PYTHON"); python != nullptr && *python != '\0') return python;
  return HEPINFER_DEFAULT_PYTHON;
}

struct ChildResult {
  int exit_code = -1;
  std::string errors;  // what it wrote on stderr
};

// Runs `arguments` (no shell), its stdout on ours, its stderr collected.
ChildResult run_collecting_stderr(const std::vector<std::string>& arguments) {
  int pipe_ends[2];
  if (pipe2(pipe_ends, O_CLOEXEC) != 0) throw BackendError("cannot create a pipe to run " + arguments.front());
  const pid_t child = fork();
  if (child < 0) throw BackendError("cannot start " + arguments.front());
  if (child == 0) {
    dup2(pipe_ends[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    const std::string why = "cannot run " + arguments.front() + "\n";
    (void)!write(STDERR_FILENO, why.data(), why.size());
    _exit(127);
  }
  close(pipe_ends[1]);
  ChildResult result;
  char buffer[4096];
  for (ssize_t got; (got = read(pipe_ends[0], buffer, sizeof(buffer))) != 0;) {
    if (got > 0) result.errors.append(buffer, static_cast<std::size_t>(got));
    else if (errno != EINTR) break;
  }
  close(pipe_ends[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The compiler's own one-line reason (after `marker`), without TensorFlow's log lines around it.
std::string reason_in(const std::string& errors, const std::string& marker) {
  const std::size_t at = errors.rfind(marker);
  if (at == std::string::npos) {
    const std::size_t end = errors.find_last_not_of('\n');
    const std::size_t begin = end == std::string::npos ? 0 : errors.rfind('\n', end);
    return end == std::string::npos ? "no message" : errors.substr(begin == std::string::npos ? 0 : begin + 1, end);
  }
  const std::size_t end = errors.find('\n', at);
  return errors.substr(at + marker.size(), end == std::string::npos ? std::string::npos : end - at - marker.size());
}

}  // namespace

void add_compile_command(CLI::App& app) {
  struct Options {
    std::string model, output, target = "pjrt", batch_sizes, signature = "serving_default",
                               target_cpu = "x86-64-v3", matmul_precision = "highest", weights = "auto";
    std::vector<std::string> input_shapes;
    bool tune = false, pinned_host_io = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "compile",
      "Compile a SavedModel or frozen graph for the XLA backend (--target pjrt: one XLA program per batch size) or "
      "the AOT backend (--target cpu-aot: one shared library of ahead-of-time compiled functions)");
  command->add_option("model", options->model, "SavedModel directory or frozen GraphDef (.pb)")->required();
  command->add_option("-o,--output", options->output, "The directory to write (e.g. model.xla or model.aot)")->required();
  command->add_option("--target", options->target, "pjrt (default: XLA artifact for CPU and GPU plugins) or cpu-aot")
      ->check(CLI::IsMember({"pjrt", "cpu-aot"}));
  command->add_option("--batch-sizes", options->batch_sizes,
                      "Batch sizes to compile, e.g. 1,8,64 (the default; a signature that fixes the batch, e.g. "
                      "[1, 16], compiles that batch alone)");
  command->add_option("--signature", options->signature, "Signature to compile (SavedModels; default serving_default)");
  command->add_option("--input-shape", options->input_shapes,
                      "NAME=D1,D2,...: the dimensions after the batch of an input whose signature leaves them unknown "
                      "(e.g. particles=100,8 for [None, None, 8]); runs then take exactly these. Repeat per input");
  CLI::Option* target_cpu = command->add_option("--target-cpu", options->target_cpu,
                      "cpu-aot: the CPUs the package runs on: x86-64-v2, x86-64-v3 (default), x86-64-v4 or native; "
                      "several, e.g. x86-64-v3,x86-64-v4: one library each, the highest the CPU has is loaded");
  CLI::Option* tune = command->add_flag(
      "--tune", options->tune,
      "cpu-aot: compile each batch size with several of XLA's code-generation choices, time them on this machine and "
      "keep the fastest (several times the compile time; levels this CPU cannot run keep XLA's default)");
  CLI::Option* matmul_precision =
      command->add_option("--matmul-precision", options->matmul_precision,
                          "pjrt: highest (default: a GPU computes float32 products in float32, agreeing with TF on a "
                          "CPU to ~1e-6) or default (a GPU may use TF32 tensor cores: faster, ~1e-3 relative)")
          ->check(CLI::IsMember({"highest", "default"}));
  CLI::Option* pinned_host_io = command->add_flag(
      "--pinned-host-io", options->pinned_host_io,
      "pjrt: also write each program with its inputs and outputs in the GPU's pinned host memory, which GPU clients "
      "run instead (no PJRT copies around a run: for small batches' latency); twice the programs on disk");
  CLI::Option* weights =
      command->add_option("--weights", options->weights,
                          "pjrt: auto (default: parameters above 64 MiB of variables, else baked), baked (constants in "
                          "each program) or parameters (a SavedModel's variables in one file, weights.bin, on the "
                          "device once for every batch size)")
          ->check(CLI::IsMember({"auto", "baked", "parameters"}));
  command->callback([options, target_cpu, tune, matmul_precision, pinned_host_io, weights] {
    const std::string python = python_interpreter();
    if (access(python.c_str(), X_OK) != 0) {
      throw FileNotFoundError("compiling needs the project's Python with TensorFlow, not found at '" + python +
                              "' (run scripts/setup.sh or set HEPINFER_PYTHON)");
    }
    // What Python's parser would call a corrupt GraphDef is often a Keras, ONNX or TF Lite file.
    if (const auto advice = advise_on_model_path(options->model)) {
      throw InvalidModelError("cannot compile '" + options->model + "': '" + options->model + "' " + *advice);
    }
    const bool aot = options->target == "cpu-aot";
    const std::filesystem::path script = data_path(aot ? "compile_aot.py" : "compile_xla.py");
    check_regular_file(script, aot ? "the AOT compiler script" : "the XLA compiler script");
    std::vector<std::string> arguments{python, script.string(), options->model, options->output, "--signature",
                                       options->signature};
    if (!options->batch_sizes.empty()) arguments.insert(arguments.end(), {"--batch-sizes", options->batch_sizes});
    for (const std::string& shape : options->input_shapes) arguments.insert(arguments.end(), {"--input-shape", shape});
    if (aot) {
      arguments.insert(arguments.end(), {"--target-cpu", options->target_cpu});
      if (options->tune) arguments.push_back("--tune");
      if (matmul_precision->count() > 0) {
        throw InvalidArgumentError("--matmul-precision applies to --target pjrt; the AOT backend runs on the CPU, "
                                   "where products are float32 either way");
      }
      if (pinned_host_io->count() > 0) {
        throw InvalidArgumentError("--pinned-host-io applies to --target pjrt; the AOT backend runs on the CPU, "
                                   "in the caller's memory");
      }
      if (weights->count() > 0) {
        throw InvalidArgumentError("--weights applies to --target pjrt; ahead-of-time packages hold their weights in "
                                   "their library");
      }
    } else if (target_cpu->count() > 0) {
      throw InvalidArgumentError("--target-cpu applies to --target cpu-aot; PJRT compiles for the CPU it runs on");
    } else if (tune->count() > 0) {
      throw InvalidArgumentError("--tune applies to --target cpu-aot; PJRT programs are compiled where they run");
    } else {
      arguments.insert(arguments.end(), {"--matmul-precision", options->matmul_precision});
      if (options->pinned_host_io) arguments.push_back("--pinned-host-io");
      arguments.insert(arguments.end(), {"--weights", options->weights});
    }
    const ChildResult result = run_collecting_stderr(arguments);
    if (result.exit_code != 0) {
      const std::string reason = reason_in(result.errors, aot ? "compile_aot: " : "compile_xla: ");
      // Most of the compilers' reasons name the model already.
      const bool names_model = reason.find("'" + options->model + "'") != std::string::npos;
      throw InvalidModelError(names_model ? reason : "cannot compile '" + options->model + "': " + reason);
    }
  });
}

}  // namespace hepinfer::cli
