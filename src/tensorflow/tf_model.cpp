#include "hepinfer/tensorflow/tf_model.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "google/protobuf/text_format.h"
#include "hepinfer/core/empty_batch.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"
#include "checkpoint_check.h"
#include "model_metadata.h"
#include "op_policy.h"
#include "tensor_bridge.h"
#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/cc/saved_model/reader.h"
#include "tensorflow/core/platform/logging.h"
#include "tensorflow/core/public/session.h"
#include "tensorflow/c/c_api.h"
#include "runtime_state.h"
#include "thread_pools.h"
#include "tf_status.h"

namespace hepinfer::tf {
namespace {

namespace fs = std::filesystem;

struct SessionCloser {
  void operator()(tensorflow::Session* session) const {
    if (session == nullptr) return;
    session->Close().IgnoreError();  // nothing useful to do with a failure while destroying
    delete session;
  }
};
using SessionPtr = std::unique_ptr<tensorflow::Session, SessionCloser>;

// A graph tensor a caller's name resolved to, with its metadata when the model has any.
struct ResolvedTensor {
  std::string tensor_name;
  const TensorInfo* info = nullptr;
};

// Everything about a (signature, input names, output names) combination that does not change
// between runs: TF's pre-pruned callable and the metadata to validate inputs against.
struct PreparedCall {
  tensorflow::Session::CallableHandle handle = 0;
  std::vector<const TensorInfo*> input_infos;  // nullptr where a raw tensor has no metadata
  std::vector<const TensorInfo*> output_infos;
  std::vector<std::string> output_labels;
};

class TfModel final : public Model {
 public:
  TfModel(ModelInfo info, SessionPtr session, std::unordered_set<std::string> node_names)
      : info_(std::move(info)), session_(std::move(session)), node_names_(std::move(node_names)) {}

  const ModelInfo& info() const override { return info_; }
  void set_timing(const LoadTiming& timing) { info_.timing = timing; }
  void set_memory(const MemoryModel& memory) { info_.memory = memory; }

  // An upper bound of the memory one run on `inputs` needs: the sum of every node's peak
  // allocation in TF's step statistics, as if nothing were freed during the run. Counted on
  // every device of the run (the CPU here; the GPU's allocator on a GPU).
  std::int64_t traced_need(const std::vector<NamedTensor>& inputs) const {
    const std::unique_ptr<PreparedCall> call = prepare(inputs, {}, info_.default_signature, /*traced=*/true);
    std::vector<tensorflow::Tensor> feeds;
    for (const NamedTensor& input : inputs) feeds.push_back(to_tf_tensor(input.tensor));
    std::vector<tensorflow::Tensor> outputs;
    tensorflow::RunMetadata metadata;
    InlineThreadPool inline_pool;
    std::unique_ptr<TbbThreadPool> unused;
    const auto pools = RuntimeState::instance().pools_for(ThreadingMode::kInline, inline_pool, unused);
    const absl::Status status = session_->RunCallable(call->handle, feeds, &outputs, &metadata, pools);
    session_->ReleaseCallable(call->handle).IgnoreError();
    throw_if_error(status, "measuring the memory of model '" + info_.path + "'");
    std::int64_t bytes = 0;
    for (const auto& device : metadata.step_stats().dev_stats()) {
      for (const auto& node : device.node_stats()) {
        for (const auto& memory : node.memory()) bytes += memory.peak_bytes();
      }
    }
    return bytes;
  }

  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options) const override {
    const PreparedCall& call = prepared_call(inputs, output_names, options.signature);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (call.input_infos[i] != nullptr) check_input_matches(*call.input_infos[i], inputs[i].tensor, info_.path);
    }
    const ThreadingMode mode = options.threading.value_or(info_.threading);
    if (is_empty_batch(inputs)) return run_empty_batch(call, inputs, mode);
    return execute(call, inputs, mode);
  }

 private:
  std::vector<Tensor> execute(const PreparedCall& call, const std::vector<NamedTensor>& inputs,
                              ThreadingMode mode) const {
    std::vector<tensorflow::Tensor> feeds;
    std::vector<Tensor> fed_views;
    feeds.reserve(inputs.size());
    for (const NamedTensor& input : inputs) {
      feeds.push_back(to_tf_tensor(input.tensor));
      if (input.tensor.is_view()) fed_views.push_back(input.tensor);
    }

    std::vector<tensorflow::Tensor> tf_outputs;
    InlineThreadPool inline_pool;
    std::unique_ptr<TbbThreadPool> tbb_pool;
    const tsl::thread::ThreadPoolOptions pools = RuntimeState::instance().pools_for(mode, inline_pool, tbb_pool);
    const absl::Status status = session_->RunCallable(call.handle, feeds, &tf_outputs, nullptr, pools);
    if (!status.ok()) throw_if_error(status, "running model '" + info_.path + "'");

    std::vector<Tensor> outputs;
    outputs.reserve(tf_outputs.size());
    for (std::size_t i = 0; i < tf_outputs.size(); ++i) {
      outputs.push_back(from_tf_tensor(std::move(tf_outputs[i]), fed_views, info_.path, call.output_labels[i]));
    }
    return outputs;
  }

  // An empty batch never reaches TF's kernels (see hepinfer/core/empty_batch.h): oneDNN's
  // convolution answers it wrongly and recurrent layers cannot run it at all.
  std::vector<Tensor> run_empty_batch(const PreparedCall& call, const std::vector<NamedTensor>& inputs,
                                      ThreadingMode mode) const {
    if (auto outputs = empty_outputs_from_metadata(call.output_infos)) return std::move(*outputs);
    if (auto outputs = empty_outputs_from_probe(execute(call, empty_batch_probe_inputs(inputs), mode),
                                                call.output_infos)) {
      return std::move(*outputs);
    }
    return execute(call, inputs, mode);  // some output does not follow the batch: only TF can say
  }

  // Callables are made once per combination of names and cached; later runs only look them up.
  const PreparedCall& prepared_call(const std::vector<NamedTensor>& inputs,
                                    const std::vector<std::string>& output_names,
                                    const std::string& signature_key) const {
    std::string key = signature_key;
    key += '\n';
    for (const NamedTensor& input : inputs) (key += input.name) += '\x1f';
    key += '\n';
    for (const std::string& name : output_names) (key += name) += '\x1f';
    {
      std::shared_lock lock(calls_mutex_);
      if (auto found = calls_.find(key); found != calls_.end()) return *found->second;
    }
    auto call = prepare(inputs, output_names, signature_key, /*traced=*/false);
    std::unique_lock lock(calls_mutex_);
    auto [position, inserted] = calls_.try_emplace(std::move(key), std::move(call));  // no move if present
    if (!inserted) session_->ReleaseCallable(call->handle).IgnoreError();  // another thread won the race
    return *position->second;
  }

  std::unique_ptr<PreparedCall> prepare(const std::vector<NamedTensor>& inputs,
                                        const std::vector<std::string>& output_names,
                                        const std::string& signature_key, bool traced) const {
    const SignatureInfo& signature = info_.signature(signature_key.empty() ? info_.default_signature : signature_key);
    auto call = std::make_unique<PreparedCall>();
    tensorflow::CallableOptions callable;
    for (const NamedTensor& input : inputs) {
      const ResolvedTensor resolved = resolve(signature, input.name, /*is_input=*/true);
      for (const auto& already_fed : callable.feed()) {
        if (already_fed == resolved.tensor_name) {
          throw InvalidArgumentError("model '" + info_.path + "': input '" + input.name + "' (" +
                                     resolved.tensor_name + ") is fed twice");
        }
      }
      callable.add_feed(resolved.tensor_name);
      call->input_infos.push_back(resolved.info);
    }
    if (info_.format == ModelFormat::kSavedModel) check_all_inputs_fed(signature, callable);

    if (output_names.empty()) {
      for (const TensorInfo& output : signature.outputs) {
        callable.add_fetch(output.tensor_name);
        call->output_labels.push_back(output.key);
        call->output_infos.push_back(&output);
      }
    } else {
      for (const std::string& name : output_names) {
        const ResolvedTensor resolved = resolve(signature, name, /*is_input=*/false);
        callable.add_fetch(resolved.tensor_name);
        call->output_labels.push_back(name);
        call->output_infos.push_back(resolved.info);
      }
    }
    if (traced) callable.mutable_run_options()->set_trace_level(tensorflow::RunOptions::SOFTWARE_TRACE);
    throw_if_error(session_->MakeCallable(callable, &call->handle),
                   "preparing model '" + info_.path + "' to run");
    return call;
  }

  ResolvedTensor resolve(const SignatureInfo& signature, const std::string& name, bool is_input) const {
    const auto& keyed = is_input ? signature.inputs : signature.outputs;
    for (const TensorInfo& info : keyed) {
      if (info.key == name) return {info.tensor_name, &info};
    }
    const std::string tensor_name = canonical_tensor_name(name);
    const std::string node = tensor_name.substr(0, tensor_name.find(':'));
    const std::string index = tensor_name.substr(tensor_name.find(':') + 1);
    const bool valid_index = !index.empty() && std::all_of(index.begin(), index.end(), ::isdigit);
    if (!valid_index || !node_names_.contains(node)) {
      std::string keys;
      for (const TensorInfo& info : keyed) keys += (keys.empty() ? "'" : ", '") + info.key + "'";
      throw NotFoundError("model '" + info_.path + "': '" + name + "' is neither an " +
                          (is_input ? "input" : "output") + " of signature '" + signature.key +
                          "' (" + (keys.empty() ? "none" : keys) + ") nor a tensor of the graph");
    }
    for (const SignatureInfo& any_signature : info_.signatures) {
      for (const TensorInfo& info : is_input ? any_signature.inputs : any_signature.outputs) {
        if (info.tensor_name == tensor_name) return {tensor_name, &info};
      }
    }
    return {tensor_name, nullptr};
  }

  void check_all_inputs_fed(const SignatureInfo& signature, const tensorflow::CallableOptions& callable) const {
    for (const TensorInfo& expected : signature.inputs) {
      const bool fed = std::find(callable.feed().begin(), callable.feed().end(), expected.tensor_name) !=
                       callable.feed().end();
      if (!fed) {
        throw InvalidArgumentError("model '" + info_.path + "': signature '" + signature.key +
                                   "' needs input '" + expected.key + "' (" +
                                   std::string(dtype_name(expected.dtype)) + expected.shape.to_string() +
                                   "), which was not given");
      }
    }
  }

  ModelInfo info_;
  SessionPtr session_;
  std::unordered_set<std::string> node_names_;
  mutable std::shared_mutex calls_mutex_;
  mutable std::unordered_map<std::string, std::unique_ptr<PreparedCall>> calls_;
};

std::string choose_default_signature(const ModelInfo& info, const LoadOptions& options) {
  if (!options.signature.empty()) return info.signature(options.signature).key;  // throws if absent
  for (const SignatureInfo& signature : info.signatures) {
    if (signature.key == kDefaultSignatureKey) return signature.key;
  }
  if (info.signatures.size() == 1) return info.signatures.front().key;
  throw NotFoundError("model '" + info.path + "' has no '" + kDefaultSignatureKey + "' signature and " +
                      std::to_string(info.signatures.size()) +
                      " others; choose one with LoadOptions::signature (--signature)");
}

// A new session for `model_path`, placed where the module's assignment says. `device` becomes
// the device the graph's nodes must be pinned to: the assigned one if this TensorFlow has it,
// otherwise the CPU (a CPU-only TensorFlow build, or a plan made from a simulated inventory).
SessionPtr new_placed_session(const std::string& model_path, const LoadOptions& options, std::string& device) {
  const scheduler::Assignment* assignment = options.assignment ? &*options.assignment : nullptr;
  RuntimeState::SessionSetup setup = RuntimeState::instance().prepare_session(model_path, assignment, options.gpu_index);
  tensorflow::Session* raw_session = nullptr;
  throw_if_error(tensorflow::NewSession(setup.options, &raw_session), "creating a session for '" + model_path + "'");
  SessionPtr session(raw_session);
  device = setup.device;
  if (device.empty()) return session;
  std::vector<tensorflow::DeviceAttributes> devices;
  throw_if_error(session->ListDevices(&devices), "listing the devices of the session for '" + model_path + "'");
  const bool present = std::any_of(devices.begin(), devices.end(), [&](const tensorflow::DeviceAttributes& attributes) {
    return attributes.name().ends_with(device);
  });
  if (!present) {
    LOG(WARNING) << "hepinfer: model '" << model_path << "' is assigned " << device
                 << ", which this TensorFlow does not have; it runs on /device:CPU:0";
    device = "/device:CPU:0";
  }
  return session;
}

// Every node goes to `device`, except nodes the exporter pinned to a CPU on purpose (string
// handling, savers); placements on whatever GPU the model was exported from are replaced.
void pin_to_device(tensorflow::GraphDef& graph, const std::string& device) {
  for (auto& node : *graph.mutable_node()) {
    if (node.device().find("CPU") == std::string::npos) node.set_device(device);
  }
}

detail::OpPolicy op_policy(const LoadOptions& options) {
  return {.extra_allowed = options.allowed_ops, .allow_all = options.allow_unsafe_ops};
}

void check_frozen(const tensorflow::GraphDef& graph, const std::string& path) {
  static const std::unordered_set<std::string> kVariableOps = {"VariableV2", "Variable", "VarHandleOp"};
  for (const auto& node : graph.node()) {
    if (kVariableOps.contains(node.op())) {
      throw InvalidModelError("'" + path + "' is not a frozen graph: node '" + node.name() + "' is a " +
                              node.op() + "; freeze it with convert_variables_to_constants first");
    }
  }
}

std::unique_ptr<TfModel> load_frozen_graph(const fs::path& path, const LoadOptions& options) {
  const std::string where = path.string();
  if (path.filename() == "saved_model.pb") {
    throw InvalidModelError("'" + where + "' is the graph file of a SavedModel; load its directory '" +
                            path.parent_path().string() + "' instead");
  }
  const std::string bytes = read_regular_file(path, "model file");
  if (bytes.empty()) throw InvalidModelError("'" + where + "' is empty; expected a GraphDef (.pb)");

  tensorflow::GraphDef graph;
  const bool text = path.extension() == ".pbtxt";
  const bool parsed = text ? google::protobuf::TextFormat::ParseFromString(bytes, &graph)
                           : graph.ParseFromString(bytes);
  if (!parsed) {
    throw InvalidModelError("'" + where + "' is not a " + (text ? "text" : "binary") +
                            " GraphDef, or is truncated or corrupt (" + std::to_string(bytes.size()) +
                            " bytes could not be parsed)");
  }
  if (graph.node_size() == 0) {
    throw InvalidModelError("'" + where + "' holds no graph nodes; expected a frozen GraphDef");
  }
  check_frozen(graph, where);
  detail::check_ops(graph, nullptr, op_policy(options), where);
  for (auto& node : *graph.mutable_node()) node.clear_device();  // placement is hepinfer's to decide

  ModelInfo info;
  info.path = where;
  info.format = ModelFormat::kFrozenGraph;
  info.signatures.push_back(frozen_graph_signature(graph, where));
  info.default_signature = choose_default_signature(info, options);
  info.threading = options.threading;

  SessionPtr session = new_placed_session(where, options, info.device);
  if (!info.device.empty()) pin_to_device(graph, info.device);
  const absl::Status created = session->Create(graph);
  if (!created.ok()) {
    throw InvalidModelError("'" + where + "': TensorFlow rejected the graph: " + std::string(created.message()));
  }
  auto names = node_names(graph);
  return std::make_unique<TfModel>(std::move(info), std::move(session), std::move(names));
}

std::unique_ptr<TfModel> load_saved_model(const fs::path& path, const LoadOptions& options) {
  const std::string where = path.string();
  std::error_code ec;
  if (!fs::exists(path / "saved_model.pb", ec) && !fs::exists(path / "saved_model.pbtxt", ec)) {
    throw InvalidModelError("directory '" + where + "' is not a SavedModel: it has no saved_model.pb");
  }
  const std::unordered_set<std::string> tags(options.tags.begin(), options.tags.end());
  std::string tag_list;
  for (const auto& tag : options.tags) tag_list += (tag_list.empty() ? "" : ",") + tag;
  auto invalid = [&](const absl::Status& status) {
    return InvalidModelError("cannot load SavedModel '" + where + "' (tags {" + tag_list + "}): " +
                             std::string(status.message()));
  };
  tensorflow::MetaGraphDef meta_graph;
  if (const absl::Status read = tensorflow::ReadMetaGraphDefFromSavedModel(where, tags, &meta_graph); !read.ok()) {
    if (read.message().find("Could not find meta graph def matching") != std::string::npos) {
      throw NotFoundError("SavedModel '" + where + "' has no MetaGraph tagged {" + tag_list + "}: " +
                          std::string(read.message()));
    }
    throw invalid(read);
  }
  detail::check_ops(meta_graph.graph_def(), meta_graph.has_saver_def() ? &meta_graph.saver_def() : nullptr,
                    op_policy(options), where);
  detail::check_checkpoint_present(meta_graph, path);
  // The steps of tensorflow::LoadSavedModel, with the graph pinned to the module's device between
  // creating the session and restoring the variables.
  std::string device;
  SessionPtr placed = new_placed_session(where, options, device);
  if (!device.empty()) pin_to_device(*meta_graph.mutable_graph_def(), device);
  if (const absl::Status created = placed->Create(meta_graph.graph_def()); !created.ok()) throw invalid(created);
  std::unique_ptr<tensorflow::Session> session(placed.release());
  const absl::Status restored = tensorflow::RestoreSession(tensorflow::RunOptions(), meta_graph, where, &session);
  SessionPtr owned(session.release());
  if (!restored.ok()) throw invalid(restored);

  ModelInfo info;
  info.path = where;
  info.format = ModelFormat::kSavedModel;
  info.device = device;
  info.signatures = saved_model_signatures(meta_graph);
  if (info.signatures.empty()) {
    throw InvalidModelError("SavedModel '" + where + "' has no signature hepinfer can run");
  }
  info.default_signature = choose_default_signature(info, options);
  info.threading = options.threading;
  auto names = node_names(meta_graph.graph_def());
  return std::make_unique<TfModel>(std::move(info), std::move(owned), std::move(names));
}

// Zero-valued inputs of the default signature with `rows` rows; unknown non-batch dimensions
// are taken as 1.
std::vector<NamedTensor> zero_inputs(const ModelInfo& info, std::int64_t rows, const char* purpose) {
  if (rows < 0) {
    throw InvalidArgumentError("model '" + info.path + "': " + purpose + " batch size " + std::to_string(rows) +
                               " is negative");
  }
  std::vector<NamedTensor> inputs;
  for (const TensorInfo& input : info.signature(info.default_signature).inputs) {
    if (!input.shape.rank_known()) {
      throw InvalidArgumentError("model '" + info.path + "': cannot " + purpose + ", input '" + input.key +
                                 "' has unknown rank");
    }
    std::vector<std::int64_t> dims = input.shape.dims();
    for (std::size_t axis = 0; axis < dims.size(); ++axis) {
      if (dims[axis] < 0) dims[axis] = axis == 0 ? rows : 1;
    }
    inputs.push_back({input.key, Tensor(input.dtype, Shape(std::move(dims)))});
  }
  return inputs;
}

void warm_up(const Model& model, const LoadOptions& options, LoadTiming& timing) {
  if (options.warmup_runs <= 0) return;
  for (const std::int64_t batch : options.warmup_batch_sizes) {
    const std::vector<NamedTensor> inputs = zero_inputs(model.info(), batch, "warm up");
    for (int run = 0; run < options.warmup_runs; ++run) {
      model.run(inputs, {});
      ++timing.warmup_runs;
    }
  }
}

// Fits fixed + per-row bytes through the traced need at two batch sizes.
MemoryModel measure_memory(const TfModel& model, const LoadOptions& options) {
  const auto [small, large] = options.memory_probe_rows;
  if (small < 1 || large <= small) {
    throw InvalidArgumentError("model '" + model.info().path + "': memory probe rows must be 1 <= small < large, got " +
                               std::to_string(small) + " and " + std::to_string(large));
  }
  const std::int64_t small_need = model.traced_need(zero_inputs(model.info(), small, "measure memory"));
  const std::int64_t large_need = model.traced_need(zero_inputs(model.info(), large, "measure memory"));
  MemoryModel memory;
  memory.bytes_per_row = std::max<std::int64_t>(0, (large_need - small_need + (large - small) - 1) / (large - small));
  memory.fixed_bytes = std::max<std::int64_t>(0, small_need - small * memory.bytes_per_row);
  return memory;
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::unique_ptr<Model> load_model(const fs::path& path, const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw FileNotFoundError("model path '" + path.string() + "' does not exist");
  std::unique_ptr<TfModel> model =
      fs::is_directory(status) ? load_saved_model(path, options) : load_frozen_graph(path, options);

  LoadTiming timing;
  timing.load_ms = milliseconds_since(start);
  const auto warmup_start = std::chrono::steady_clock::now();
  warm_up(*model, options, timing);
  timing.warmup_ms = milliseconds_since(warmup_start);
  if (options.measure_memory) model->set_memory(measure_memory(*model, options));
  model->set_timing(timing);
  return model;
}

std::string runtime_version() { return TF_Version(); }

}  // namespace hepinfer::tf
