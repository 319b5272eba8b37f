#pragma once
// The backend-neutral model interface: metadata about a loaded model and a thread-safe `run`.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hepinfer/core/dtype.h"
#include "hepinfer/core/shape.h"
#include "hepinfer/core/tensor.h"

namespace hepinfer {

// Where a backend's own parallel work runs.
enum class ThreadingMode {
  kInline,        // everything on the calling thread; the backend starts no threads
  kTbb,           // as tasks in the calling thread's TBB arena, alongside the framework's work
  kBackendPools,  // in the backend's own thread pools (standalone programs)
};
std::string_view threading_mode_name(ThreadingMode mode);  // "inline", "tbb", "pools"
// The inverse; also accepts "tensorflow", the pools' name before there was more than one backend.
std::optional<ThreadingMode> parse_threading_mode(std::string_view name);

// What loading cost: useful to see that warm-up moved one-time work out of the first event.
struct LoadTiming {
  double load_ms = 0;    // reading, graph import, session creation
  double warmup_ms = 0;  // all warm-up runs together
  int warmup_runs = 0;
};

// The values an integer input may hold, [low, high): it indexes the rows of a table.
struct IndexRange {
  std::int64_t low = 0;
  std::int64_t high = 0;
};

// One input or output of a signature.
struct TensorInfo {
  std::string key;          // the name callers use (signature key, or node name for graphs)
  std::string tensor_name;  // the graph tensor it maps to, e.g. "serving_default_x:0"
  DType dtype = DType::kFloat32;
  Shape shape = Shape::unknown_rank();  // -1 marks unknown dimensions
  // For an integer input the model looks up as rows of a table (an embedding): the indices TF
  // accepts. TF refuses a run with any other; a compiled program would clamp it to the table, so
  // the compiled backends check. Empty where unknown or unbounded.
  std::optional<IndexRange> index_range;
  // One of the tensors TF feeds a ragged or sparse tensor as (values, row splits, indices, dense
  // shape): its first dimension is not the batch's, so it is never split or merged as rows.
  bool composite_component = false;
};

struct SignatureInfo {
  std::string key;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;

  // The input named `key`; nullptr if absent.
  const TensorInfo* find_input(std::string_view key) const;
};

// What one run needs in memory as a function of its rows, measured by the backend on the device
// the model runs on (see tf::LoadOptions::measure_memory).
struct MemoryModel {
  std::int64_t fixed_bytes = 0;
  std::int64_t bytes_per_row = 0;
  std::int64_t bytes_for(std::int64_t rows) const { return fixed_bytes + rows * bytes_per_row; }
  // The most rows one run may have within `budget_bytes`; 0 if not even one row fits.
  std::int64_t max_rows_within(std::int64_t budget_bytes) const;
};

struct ModelInfo {
  std::string path;
  std::string backend;  // "tensorflow", "xla"
  std::string format;   // as the backend names it: "SavedModel", "frozen GraphDef", "XLA artifact ..."
  // The signature used when a run does not name one. Frozen graphs have a single signature,
  // "serving_default", listing their placeholders as inputs and their unconsumed nodes as outputs.
  std::string default_signature;
  std::vector<SignatureInfo> signatures;
  ThreadingMode threading = ThreadingMode::kInline;  // used by runs that do not choose
  // Where the backend placed the model's operations, in its own words, e.g. "/device:GPU:1",
  // "/device:CPU:0" or "PJRT cuda:0"; empty: the backend's default placement.
  std::string device;
  // The GPU (CUDA ordinal) the model runs on; none: the CPU. Reports show this, not the plan's
  // assignment, which a backend may not have been able to follow.
  std::optional<int> gpu;
  // The inference server the model's runs are sent to (its name, see the remote backend); empty:
  // the model runs in this process.
  std::string server;
  // Why the model does not run where its placement said (e.g. "this TensorFlow has no GPU
  // support"); empty when it does.
  std::string placement_note;
  // How the backend loaded the model, in its words, for `hepinfer inspect` (e.g. {"programs", "2
  // compiled batch sizes, 2 from the compile cache"}).
  std::vector<std::pair<std::string, std::string>> load_details;
  // The row counts the backend runs as they are, by increasing rows (compiled programs' batch
  // sizes); it pads any other count up to the next one. Empty: every row count runs as it is.
  std::vector<std::int64_t> batch_sizes;
  std::optional<MemoryModel> memory;  // when measured at load
  LoadTiming timing;

  // Throws NotFoundError naming the model and the available keys.
  const SignatureInfo& signature(std::string_view key) const;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct RunOptions {
  // Signature whose keys resolve names; empty: the model's default signature.
  std::string signature;
  // Overrides the model's threading mode for this run.
  std::optional<ThreadingMode> threading;
};

// A loaded model. run() may be called concurrently from any number of threads on one shared
// instance: one model per process, shared by all the framework's streams.
class Model {
 public:
  virtual ~Model() = default;
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  virtual const ModelInfo& info() const = 0;

  // Feeds `inputs` and returns the tensors named by `output_names`, in that order. Names are
  // signature keys or raw graph tensor names ("x:0"; "x" means "x:0"). An empty `output_names`
  // returns all outputs of the signature, in its order.
  virtual std::vector<Tensor> run(const std::vector<NamedTensor>& inputs,
                                  const std::vector<std::string>& output_names,
                                  const RunOptions& options = {}) const = 0;
};

// Throws DTypeMismatchError / ShapeMismatchError if `tensor` cannot be fed as `expected`.
// `context` names the model (its path) for the message.
void check_input_matches(const TensorInfo& expected, const Tensor& tensor, std::string_view context);

}  // namespace hepinfer
