#include "hepinfer/core/fixed_batches.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "hepinfer/core/empty_batch.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/signature_binding.h"

namespace hepinfer {

Tensor padded_to_rows(const Tensor& tensor, std::int64_t rows) {
  std::vector<std::int64_t> dims = tensor.shape().dims();
  dims[0] = rows;
  Tensor result(tensor.dtype(), Shape(std::move(dims)));
  if (tensor.byte_size() > 0) std::memcpy(result.raw_data(), tensor.raw_data(), tensor.byte_size());
  return result;
}

namespace {

std::int64_t batch_rows(const std::vector<Tensor>& inputs, const std::vector<bool>& per_call) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!per_call[i]) return inputs[i].rows();
  }
  return 0;
}

}  // namespace

std::vector<Tensor> run_over_batch_sizes(std::span<const std::int64_t> batch_sizes, const std::vector<Tensor>& inputs,
                                         const std::vector<bool>& per_call, const RunOnBatchSize& run_one,
                                         std::string_view model) {
  const std::int64_t rows = batch_rows(inputs, per_call);
  const std::int64_t largest = batch_sizes.back();
  const auto check_rows = [&](const std::vector<Tensor>& outputs, std::int64_t expected) {
    for (const Tensor& output : outputs) {
      if (output.shape().rank() == 0 || output.rows() != expected) {
        throw InternalError("model '" + std::string(model) + "': a run of " + std::to_string(expected) +
                            " rows returned " + output.description() + ", not one row per input row");
      }
    }
  };
  if (rows <= largest) {
    const auto fits = std::find_if(batch_sizes.begin(), batch_sizes.end(), [&](std::int64_t size) { return size >= rows; });
    std::vector<Tensor> outputs =
        run_one(static_cast<std::size_t>(fits - batch_sizes.begin()), BatchPart{inputs, per_call, rows});
    check_rows(outputs, rows);
    return outputs;
  }
  std::vector<std::vector<Tensor>> parts;
  for (std::int64_t begin = 0; begin < rows; begin += largest) {
    const std::int64_t end = std::min(rows, begin + largest);
    std::vector<Tensor> part;
    part.reserve(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      part.push_back(per_call[i] ? inputs[i] : inputs[i].slice_rows(begin, end));
    }
    parts.push_back(run_over_batch_sizes(batch_sizes, part, per_call, run_one, model));
  }
  std::vector<Tensor> outputs;
  for (std::size_t o = 0; o < parts.front().size(); ++o) {
    std::vector<Tensor> pieces;
    pieces.reserve(parts.size());
    for (const auto& part : parts) pieces.push_back(part[o]);
    outputs.push_back(concat_rows(pieces, "output " + std::to_string(o) + " of '" + std::string(model) + "'"));
  }
  return outputs;
}

std::vector<Tensor> run_signature_over_batch_sizes(const SignatureInfo& signature, const std::vector<bool>& per_call,
                                                   const std::vector<NamedTensor>& inputs,
                                                   const std::vector<std::string>& output_names,
                                                   std::span<const std::int64_t> batch_sizes,
                                                   const RunOnBatchSize& run_one, std::string_view model) {
  const std::vector<Tensor> ordered = bind_inputs(signature, inputs, model, per_call);
  const std::vector<std::size_t> selected = select_outputs(signature, output_names, model);
  if (batch_rows(ordered, per_call) == 0) {
    std::vector<const TensorInfo*> selected_infos;
    for (const std::size_t index : selected) selected_infos.push_back(&signature.outputs[index]);
    std::optional<std::vector<Tensor>> empty = empty_outputs_from_metadata(selected_infos);
    if (!empty) {
      throw InternalError("model '" + std::string(model) + "': an output's shape does not follow the batch, so " +
                          "an empty batch has no answer without a run");
    }
    return *std::move(empty);
  }
  std::vector<Tensor> all = run_over_batch_sizes(batch_sizes, ordered, per_call, run_one, model);
  if (output_names.empty()) return all;
  std::vector<Tensor> outputs;
  outputs.reserve(selected.size());
  for (const std::size_t index : selected) outputs.push_back(std::move(all[index]));
  return outputs;
}

}  // namespace hepinfer
