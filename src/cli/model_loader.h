#pragma once
// The CLI's one way to open a model, so that commands not needing TensorFlow build without it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"

#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"
#include "hepinfer/scheduler/resource_scheduler.h"

namespace hepinfer::cli {

// An XLA artifact on the XLA backend, an AOT package on the AOT backend, a served model's URL (or
// a placement on servers) on the remote backend, anything else on the TensorFlow backend. Throws
// UnsupportedError for a backend this hepinfer was built without.
std::unique_ptr<Model> open_model(const std::string& path, const LoadOptions& options);
std::unique_ptr<Model> open_tensorflow_model(const std::string& path, const LoadOptions& options);

// What the commands that open a model say their `model` argument may be.
inline constexpr const char* kModelArgumentHelp =
    "Frozen GraphDef (.pb), SavedModel directory, XLA artifact (.xla), AOT package (.aot) or served model "
    "(http(s)://HOST:PORT/v2/models/NAME)";

// Adds --allow-op, --allow-unsafe-ops, --live-variables and --freeze-limit-mib, storing them in `options`.
void add_op_policy_options(CLI::App& command, LoadOptions& options);

// The hooks through which the backend follows a ResourceScheduler (TensorFlow takes its
// process-wide GPU settings from the plan); none without TensorFlow.
scheduler::SchedulerHooks backend_scheduler_hooks();

// A model a command places on a GPU itself (no workflow): `--gpu ID [--gpu-memory-mib M]`.
struct GpuRequest {
  std::optional<int> gpu;
  std::int64_t memory_mib = 1024;
};
void add_gpu_options(CLI::App& command, GpuRequest& request);
// Puts `options` on the requested GPU through a one-module device plan of this machine's GPUs
// (the same path a workflow's modules take); nothing without a request. Throws
// ResourceExhaustedError naming the GPU when it is not there or has not the memory.
void place_on_requested_gpu(const GpuRequest& request, LoadOptions& options);

// Adds --threading to `command`, storing the parsed mode in `mode`.
void add_threading_option(CLI::App& command, ThreadingMode& mode);

// "TensorFlow 2.21.0, oneDNN on" or "no TensorFlow".
std::string backend_description();

// The backend's own logging: everything with `verbose`, nothing otherwise.
void configure_backend_logging(bool verbose);

}  // namespace hepinfer::cli
