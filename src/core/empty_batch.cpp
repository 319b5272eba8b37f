#include "hepinfer/core/empty_batch.h"

#include <algorithm>

#include "hepinfer/core/per_call_inputs.h"

namespace hepinfer {

bool is_empty_batch(const std::vector<NamedTensor>& inputs, const SignatureInfo* signature) {
  // Every run comes here: the signature is consulted only when some input has 0 rows.
  if (std::none_of(inputs.begin(), inputs.end(), [](const NamedTensor& input) {
        return input.tensor.shape().rank() > 0 && input.tensor.rows() == 0;
      })) {
    return false;
  }
  const std::vector<bool> per_call = per_call_inputs(inputs, signature);
  bool any_batched = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (per_call[i]) continue;
    if (inputs[i].tensor.rows() != 0) return false;
    any_batched = true;
  }
  return any_batched;
}

std::optional<std::vector<Tensor>> empty_outputs_from_metadata(const std::vector<const TensorInfo*>& outputs) {
  std::vector<Tensor> empty;
  empty.reserve(outputs.size());
  for (const TensorInfo* info : outputs) {
    if (info == nullptr || !info->shape.rank_known() || info->shape.rank() == 0) return std::nullopt;
    std::vector<std::int64_t> dims = info->shape.dims();
    if (dims[0] != Shape::kUnknownDim) return std::nullopt;
    if (std::any_of(dims.begin() + 1, dims.end(), [](std::int64_t dim) { return dim < 0; })) return std::nullopt;
    dims[0] = 0;
    empty.emplace_back(info->dtype, Shape(std::move(dims)));
  }
  return empty;
}

std::vector<NamedTensor> empty_batch_probe_inputs(const std::vector<NamedTensor>& inputs, const SignatureInfo* signature) {
  const std::vector<bool> per_call = per_call_inputs(inputs, signature);
  std::vector<NamedTensor> probe;
  probe.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const NamedTensor& input = inputs[i];
    if (per_call[i]) {
      probe.push_back(input);
      continue;
    }
    std::vector<std::int64_t> dims = input.tensor.shape().dims();
    dims[0] = kEmptyBatchProbeRows;
    probe.push_back({input.name, Tensor(input.tensor.dtype(), Shape(std::move(dims)))});
  }
  return probe;
}

std::optional<std::vector<Tensor>> empty_outputs_from_probe(const std::vector<Tensor>& probe_outputs,
                                                            const std::vector<const TensorInfo*>& outputs) {
  std::vector<Tensor> empty;
  empty.reserve(probe_outputs.size());
  for (std::size_t i = 0; i < probe_outputs.size(); ++i) {
    const Tensor& output = probe_outputs[i];
    if (output.shape().rank() == 0 || output.rows() != kEmptyBatchProbeRows) return std::nullopt;
    const TensorInfo* info = i < outputs.size() ? outputs[i] : nullptr;
    if (info != nullptr && info->shape.rank_known() && info->shape.rank() > 0 && info->shape[0] >= 0) {
      return std::nullopt;  // the model says this output's first dimension is fixed
    }
    std::vector<std::int64_t> dims = output.shape().dims();
    dims[0] = 0;
    empty.emplace_back(output.dtype(), Shape(std::move(dims)));
  }
  return empty;
}

}  // namespace hepinfer
