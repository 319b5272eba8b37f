#pragma once
// The CLI's one way to open a model, so that commands not needing TensorFlow build without it.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

#include "hepinfer/core/model.h"
#include "hepinfer/scheduler/plan.h"
#include "hepinfer/scheduler/resource_scheduler.h"

namespace hepinfer::cli {

struct OpenOptions {
  std::string signature;
  ThreadingMode threading = ThreadingMode::kInline;
  int warmup_runs = 0;
  std::vector<std::int64_t> warmup_batch_sizes{1};
  bool measure_memory = false;
  std::optional<scheduler::Assignment> assignment;  // the module's share of the device plan
  std::vector<std::string> allowed_ops;             // see tf::LoadOptions
  bool allow_unsafe_ops = false;
};

// Throws UnsupportedError when hepinfer was built without TensorFlow.
std::unique_ptr<Model> open_model(const std::string& path, const OpenOptions& options);

// Adds --allow-op and --allow-unsafe-ops, storing them in `options`.
void add_op_policy_options(CLI::App& command, OpenOptions& options);

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
