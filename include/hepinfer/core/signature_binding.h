#pragma once
// Matching a run's named inputs and requested outputs to a signature, for backends whose compiled
// programs take their inputs and give their outputs in the signature's order (XLA, AOT).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/core/model.h"

namespace hepinfer {

// True if a run's `name` means `info`: its signature key or, as for the TF backend, its graph
// tensor name ("x:0"; "x" means "x:0").
bool names_tensor(const TensorInfo& info, std::string_view name);

// The inputs in the signature's order, each checked against it (dtype, shape), those that follow
// the batch all with the same rows (per-call inputs: core/per_call_inputs.h). Throws
// InvalidArgumentError (an input missing or fed twice), NotFoundError (a name the signature lacks),
// DTypeMismatchError, ShapeMismatchError; messages name `model` (its path).
std::vector<Tensor> bind_inputs(const SignatureInfo& signature, const std::vector<NamedTensor>& inputs,
                                std::string_view model);
// The same with the signature's per_call_flags given (computed once by a caller that needs them too).
std::vector<Tensor> bind_inputs(const SignatureInfo& signature, const std::vector<NamedTensor>& inputs,
                                std::string_view model, const std::vector<bool>& per_call);

// Indexes into signature.outputs of `names` (all outputs for none). Throws NotFoundError naming
// `model` and the available keys.
std::vector<std::size_t> select_outputs(const SignatureInfo& signature, const std::vector<std::string>& names,
                                        std::string_view model);

}  // namespace hepinfer
