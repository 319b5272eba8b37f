#pragma once
// The CLI's one way to open a model, so that commands not needing TensorFlow build without it.

#include <memory>
#include <string>

#include "CLI/CLI.hpp"

#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"
#include "hepinfer/scheduler/resource_scheduler.h"

namespace hepinfer::cli {

// An XLA artifact (a directory with an XLA manifest) on the XLA backend, anything else on the
// TensorFlow backend. Throws UnsupportedError for a backend this hepinfer was built without.
std::unique_ptr<Model> open_model(const std::string& path, const LoadOptions& options);
std::unique_ptr<Model> open_tensorflow_model(const std::string& path, const LoadOptions& options);

// Adds --allow-op and --allow-unsafe-ops, storing them in `options`.
void add_op_policy_options(CLI::App& command, LoadOptions& options);

// The hooks through which the backend follows a ResourceScheduler (TensorFlow takes its
// process-wide GPU settings from the plan); none without TensorFlow.
scheduler::SchedulerHooks backend_scheduler_hooks();

// Adds --threading to `command`, storing the parsed mode in `mode`.
void add_threading_option(CLI::App& command, ThreadingMode& mode);

// "TensorFlow 2.21.0, oneDNN on" or "no TensorFlow".
std::string backend_description();

// The backend's own logging: everything with `verbose`, nothing otherwise.
void configure_backend_logging(bool verbose);

}  // namespace hepinfer::cli
