#include "hepinfer/core/per_call_inputs.h"

#include <algorithm>

#include "hepinfer/core/signature_binding.h"

namespace hepinfer {

bool is_per_call_input(const TensorInfo& input, const SignatureInfo& signature) {
  if (!input.shape.rank_known()) return false;
  if (input.shape.rank() == 0) return true;
  if (input.shape[0] == Shape::kUnknownDim) return false;
  return std::any_of(signature.inputs.begin(), signature.inputs.end(), [](const TensorInfo& other) {
    return !other.shape.rank_known() || (other.shape.rank() > 0 && other.shape[0] == Shape::kUnknownDim);
  });
}

std::vector<bool> per_call_inputs(const std::vector<NamedTensor>& inputs, const SignatureInfo* signature) {
  std::vector<bool> per_call;
  per_call.reserve(inputs.size());
  for (const NamedTensor& input : inputs) {
    const TensorInfo* info = nullptr;
    if (signature != nullptr && input.tensor.shape().rank() > 0) {
      const auto found = std::find_if(signature->inputs.begin(), signature->inputs.end(),
                                      [&](const TensorInfo& candidate) { return names_tensor(candidate, input.name); });
      if (found != signature->inputs.end()) info = &*found;
    }
    per_call.push_back(input.tensor.shape().rank() == 0 || (info != nullptr && is_per_call_input(*info, *signature)));
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
