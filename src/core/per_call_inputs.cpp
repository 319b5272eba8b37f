#include "hepinfer/core/per_call_inputs.h"

#include <algorithm>

#include "hepinfer/core/signature_binding.h"

namespace hepinfer {

namespace {

bool opens_the_batch(const TensorInfo& input) {
  return !input.composite_component &&
         (!input.shape.rank_known() || (input.shape.rank() > 0 && input.shape[0] == Shape::kUnknownDim));
}

bool is_per_call(const TensorInfo& input, bool batch_open) {
  if (input.composite_component) return true;
  if (!input.shape.rank_known()) return false;
  if (input.shape.rank() == 0) return true;
  return input.shape[0] != Shape::kUnknownDim && batch_open;
}

}  // namespace

bool is_per_call_input(const TensorInfo& input, const SignatureInfo& signature) {
  return is_per_call(input, std::any_of(signature.inputs.begin(), signature.inputs.end(), opens_the_batch));
}

std::vector<bool> per_call_flags(const SignatureInfo& signature) {
  const bool batch_open = std::any_of(signature.inputs.begin(), signature.inputs.end(), opens_the_batch);
  std::vector<bool> flags;
  flags.reserve(signature.inputs.size());
  for (const TensorInfo& input : signature.inputs) flags.push_back(is_per_call(input, batch_open));
  return flags;
}

std::vector<bool> per_call_inputs(const std::vector<NamedTensor>& inputs, const SignatureInfo* signature) {
  const std::vector<bool> flags = signature != nullptr ? per_call_flags(*signature) : std::vector<bool>{};
  std::vector<bool> per_call;
  per_call.reserve(inputs.size());
  for (const NamedTensor& input : inputs) {
    bool whole = input.tensor.shape().rank() == 0;
    if (!whole && signature != nullptr) {
      const auto found = std::find_if(signature->inputs.begin(), signature->inputs.end(),
                                      [&](const TensorInfo& candidate) { return names_tensor(candidate, input.name); });
      whole = found != signature->inputs.end() && flags[static_cast<std::size_t>(found - signature->inputs.begin())];
    }
    per_call.push_back(whole);
  }
  return per_call;
}

const SignatureInfo* find_run_signature(const ModelInfo& info, const RunOptions& options) {
  const std::string& key = options.signature.empty() ? info.default_signature : options.signature;
  const auto found = std::find_if(info.signatures.begin(), info.signatures.end(),
                                  [&](const SignatureInfo& signature) { return signature.key == key; });
  return found == info.signatures.end() ? nullptr : &*found;
}

}  // namespace hepinfer
