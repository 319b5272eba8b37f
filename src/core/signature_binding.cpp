#include "hepinfer/core/signature_binding.h"

#include <algorithm>

#include "hepinfer/core/error.h"
#include "hepinfer/core/per_call_inputs.h"

namespace hepinfer {
namespace {

std::string keys_of(const std::vector<TensorInfo>& tensors) {
  std::string keys;
  for (const TensorInfo& info : tensors) keys += (keys.empty() ? "'" : ", '") + info.key + "'";
  return keys;
}

// Refuses `tensor` if it holds a value outside `range`, naming the first, as TF's gathers refuse it.
template <class T>
void check_indices(const Tensor& tensor, const TensorInfo& info, const IndexRange& range, std::string_view model) {
  const auto values = tensor.values<T>();
  const auto outside = std::find_if(values.begin(), values.end(), [&](T value) {
    return static_cast<std::int64_t>(value) < range.low || static_cast<std::int64_t>(value) >= range.high;
  });
  if (outside == values.end()) return;
  const std::int64_t row_size = tensor.rows() == 0 ? 1 : static_cast<std::int64_t>(values.size()) / tensor.rows();
  const std::int64_t position = outside - values.begin();
  throw InvalidArgumentError("model '" + std::string(model) + "': input '" + info.key + "' holds " + std::to_string(*outside) + " in row " +
                             std::to_string(position / row_size) + ", outside [" + std::to_string(range.low) + ", " +
                             std::to_string(range.high) + "): the model looks its values up as rows of a table of " +
                             std::to_string(range.high) + " (TensorFlow refuses such a run; a compiled program " +
                             "would clamp the index)");
}

}  // namespace

bool names_tensor(const TensorInfo& info, std::string_view name) {
  return name == info.key || name == info.tensor_name ||
         (!info.tensor_name.empty() && info.tensor_name.size() == name.size() + 2 &&
          info.tensor_name.starts_with(name) && info.tensor_name.ends_with(":0"));
}

std::vector<Tensor> bind_inputs(const SignatureInfo& signature, const std::vector<NamedTensor>& inputs,
                                std::string_view model) {
  return bind_inputs(signature, inputs, model, per_call_flags(signature));
}

std::vector<Tensor> bind_inputs(const SignatureInfo& signature, const std::vector<NamedTensor>& inputs,
                                std::string_view model, const std::vector<bool>& per_call) {
  // Built only for an error: this runs on every call.
  const auto where = [&] { return "model '" + std::string(model) + "': "; };
  std::vector<Tensor> ordered;
  ordered.reserve(signature.inputs.size());
  const TensorInfo* first_batched = nullptr;  // the first input that follows the batch
  for (const TensorInfo& expected : signature.inputs) {
    const auto given = std::find_if(inputs.begin(), inputs.end(),
                                    [&](const NamedTensor& input) { return names_tensor(expected, input.name); });
    if (given == inputs.end()) {
      throw InvalidArgumentError(where() + "input '" + expected.key + "' (" + std::string(dtype_name(expected.dtype)) +
                                 expected.shape.to_string() + ") was not given");
    }
    check_input_matches(expected, given->tensor, model);
    if (expected.index_range) {
      const IndexRange& range = *expected.index_range;
      if (expected.dtype == DType::kInt64) check_indices<std::int64_t>(given->tensor, expected, range, model);
      if (expected.dtype == DType::kInt32) check_indices<std::int32_t>(given->tensor, expected, range, model);
    }
    ordered.push_back(given->tensor);
    if (per_call[ordered.size() - 1]) continue;
    if (first_batched == nullptr) {
      first_batched = &expected;
    } else if (const Tensor& first = ordered[static_cast<std::size_t>(first_batched - signature.inputs.data())];
               given->tensor.rows() != first.rows()) {
      throw ShapeMismatchError(where() + "input '" + expected.key + "' has " + std::to_string(given->tensor.rows()) +
                               " rows, input '" + first_batched->key + "' " + std::to_string(first.rows()) +
                               "; every input that follows the batch needs the same rows");
    }
  }
  for (const NamedTensor& input : inputs) {
    if (std::none_of(signature.inputs.begin(), signature.inputs.end(),
                     [&](const TensorInfo& info) { return names_tensor(info, input.name); })) {
      throw NotFoundError(where() + "'" + input.name + "' is not an input of signature '" + signature.key + "' (" +
                          keys_of(signature.inputs) + ")");
    }
  }
  if (ordered.size() != inputs.size()) throw InvalidArgumentError(where() + "an input is fed twice");
  return ordered;
}

std::vector<std::size_t> select_outputs(const SignatureInfo& signature, const std::vector<std::string>& names,
                                        std::string_view model) {
  std::vector<std::size_t> selected;
  if (names.empty()) {
    for (std::size_t i = 0; i < signature.outputs.size(); ++i) selected.push_back(i);
    return selected;
  }
  for (const std::string& name : names) {
    const auto found = std::find_if(signature.outputs.begin(), signature.outputs.end(),
                                    [&](const TensorInfo& output) { return names_tensor(output, name); });
    if (found == signature.outputs.end()) {
      throw NotFoundError("model '" + std::string(model) + "': '" + name + "' is not an output of signature '" +
                          signature.key + "' (" + keys_of(signature.outputs) + ")");
    }
    selected.push_back(static_cast<std::size_t>(found - signature.outputs.begin()));
  }
  return selected;
}

}  // namespace hepinfer
