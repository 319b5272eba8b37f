#pragma once
// Loading TensorFlow models (frozen GraphDef .pb files and SavedModel directories) as
// hepinfer::Model objects. This header does not include TensorFlow headers.

#include <filesystem>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hepinfer/core/model.h"
#include "hepinfer/scheduler/plan.h"

namespace hepinfer::tf {

struct LoadOptions {
  // Default signature for runs that name none. Empty: "serving_default" if the model has it,
  // otherwise its only signature.
  std::string signature;
  // MetaGraph tags selecting the graph inside a SavedModel.
  std::vector<std::string> tags{"serve"};
  // Default threading mode of the model's runs (RunOptions::threading overrides it per run).
  ThreadingMode threading = ThreadingMode::kInline;
  // Runs on zero-valued inputs of the default signature before load_model returns, so that
  // one-time graph optimisation is not paid by the first event. Unknown non-batch dimensions are
  // taken as 1.
  int warmup_runs = 0;
  std::vector<std::int64_t> warmup_batch_sizes{1};
  // Measures ModelInfo::memory (fixed bytes + bytes per row) from TF's step statistics of two
  // traced runs on zero-valued inputs with these row counts. The figure is an upper bound: the
  // sum of every node's peak allocation, as if nothing were freed during a run.
  bool measure_memory = false;
  std::pair<std::int64_t, std::int64_t> memory_probe_rows{1, 256};
  // The module's share of the device plan (ClaimTicket::assignment()). The session is pinned to
  // the module's `gpu_index`-th GPU, or sees no GPU for a CPU assignment. Without one: TF's
  // default placement, or CPU once a plan is applied (the plan owns the GPUs).
  // See hepinfer/tensorflow/device_plan.h.
  std::optional<scheduler::Assignment> assignment;
  std::size_t gpu_index = 0;
  // A graph is a program: ops such as WriteFile, ReadFile, PyFunc or Save can touch the file
  // system or run code. By default a model whose graph or function library uses an op outside
  // hepinfer's inference allowlist is refused (PermissionDeniedError naming the op and node);
  // checkpoint ops are allowed only where the SavedModel's saver restores its variables.
  // `allowed_ops` adds op types to the allowlist; `allow_unsafe_ops` turns the check off.
  std::vector<std::string> allowed_ops;
  bool allow_unsafe_ops = false;
};

// Loads `path`: a directory is read as a SavedModel, a file as a binary GraphDef (.pb) or, when
// it ends in .pbtxt, a text GraphDef. Throws FileNotFoundError, InvalidModelError or
// NotFoundError (unknown signature or tags), PermissionDeniedError (an op outside the allowlist),
// and FailedPreconditionError while a device plan is awaited; never returns a half-initialised
// model. Nothing of a refused model runs, not even its variable restore.
std::unique_ptr<Model> load_model(const std::filesystem::path& path, const LoadOptions& options = {});

// The version of the linked TensorFlow runtime, e.g. "2.21.0".
std::string runtime_version();

}  // namespace hepinfer::tf
