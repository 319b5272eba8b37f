#include "session_model.h"

#include <algorithm>

#include "hepinfer/core/empty_batch.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/per_call_inputs.h"
#include "model_metadata.h"
#include "runtime_state.h"
#include "tensor_bridge.h"
#include "thread_pools.h"
#include "tf_status.h"

namespace hepinfer::tf {

std::int64_t TfModel::traced_need(const std::vector<NamedTensor>& inputs) const {
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

std::vector<Tensor> TfModel::run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                                 const RunOptions& options) const {
  const PreparedCall& call = prepared_call(inputs, output_names, options.signature);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (call.input_infos[i] != nullptr) check_input_matches(*call.input_infos[i], inputs[i].tensor, info_.path);
  }
  const ThreadingMode mode = options.threading.value_or(info_.threading);
  const SignatureInfo* signature = find_run_signature(info_, options);
  if (is_empty_batch(inputs, signature)) return run_empty_batch(call, inputs, signature, mode);
  return execute(call, inputs, mode);
}

std::vector<Tensor> TfModel::execute(const PreparedCall& call, const std::vector<NamedTensor>& inputs,
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
    if (call.output_infos[i] != nullptr) check_output_shape(*call.output_infos[i], outputs.back());
  }
  return outputs;
}

// A result of another shape than the graph gives it comes from a kernel that broke its op's
// contract; passed on, a downstream module would read its values as something else.
void TfModel::check_output_shape(const TensorInfo& expected, const Tensor& output) const {
  if (expected.shape.accepts(output.shape())) return;
  throw BackendError("model '" + info_.path + "', output '" + expected.key + "' (" + expected.tensor_name +
                     "): TensorFlow returned shape " + output.shape().to_string() + ", which the model's graph " +
                     "does not allow (" + expected.shape.to_string() + "). A known cause: with oneDNN on, TF's " +
                     "convolutions return their input unchanged when a dimension of it has length 0 (a " +
                     "sequence of no steps); TF_ENABLE_ONEDNN_OPTS=0 gives TF's own kernels");
}

std::vector<Tensor> TfModel::run_empty_batch(const PreparedCall& call, const std::vector<NamedTensor>& inputs,
                                             const SignatureInfo* signature, ThreadingMode mode) const {
  if (auto outputs = empty_outputs_from_metadata(call.output_infos)) return std::move(*outputs);
  if (auto outputs = empty_outputs_from_probe(execute(call, empty_batch_probe_inputs(inputs, signature), mode),
                                              call.output_infos)) {
    return std::move(*outputs);
  }
  return execute(call, inputs, mode);  // some output does not follow the batch: only TF can say
}

const PreparedCall& TfModel::prepared_call(const std::vector<NamedTensor>& inputs,
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

std::unique_ptr<PreparedCall> TfModel::prepare(const std::vector<NamedTensor>& inputs,
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
  if (info_.format == kSavedModelFormat) check_all_inputs_fed(signature, callable);

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

ResolvedTensor TfModel::resolve(const SignatureInfo& signature, const std::string& name, bool is_input) const {
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
  if (!is_input && unfetchable_nodes_.contains(node)) {
    throw PermissionDeniedError("model '" + info_.path + "': '" + name + "' is a tensor no signature or init op "
                                "reaches (e.g. training or checkpoint ops), so its ops were not checked against "
                                "the inference allowlist; fetch a signature output, or load the model with "
                                "allow_unsafe_ops (CLI: --allow-unsafe-ops) if you trust it");
  }
  for (const SignatureInfo& any_signature : info_.signatures) {
    for (const TensorInfo& info : is_input ? any_signature.inputs : any_signature.outputs) {
      if (info.tensor_name == tensor_name) return {tensor_name, &info};
    }
  }
  return {tensor_name, nullptr};
}

void TfModel::check_all_inputs_fed(const SignatureInfo& signature, const tensorflow::CallableOptions& callable) const {
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

}  // namespace hepinfer::tf
