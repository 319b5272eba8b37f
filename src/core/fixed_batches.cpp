#include "hepinfer/core/fixed_batches.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "hepinfer/core/error.h"

namespace hepinfer {

Tensor padded_to_rows(const Tensor& tensor, std::int64_t rows) {
  std::vector<std::int64_t> dims = tensor.shape().dims();
  dims[0] = rows;
  Tensor result(tensor.dtype(), Shape(std::move(dims)));
  if (tensor.byte_size() > 0) std::memcpy(result.raw_data(), tensor.raw_data(), tensor.byte_size());
  return result;
}

std::vector<Tensor> run_over_batch_sizes(std::span<const std::int64_t> batch_sizes, const std::vector<Tensor>& inputs,
                                         const RunOnBatchSize& run_one, std::string_view model) {
  const std::int64_t rows = inputs.front().rows();
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
    std::vector<Tensor> outputs = run_one(static_cast<std::size_t>(fits - batch_sizes.begin()), inputs);
    check_rows(outputs, rows);
    return outputs;
  }
  std::vector<std::vector<Tensor>> parts;
  for (std::int64_t begin = 0; begin < rows; begin += largest) {
    const std::int64_t end = std::min(rows, begin + largest);
    std::vector<Tensor> part;
    part.reserve(inputs.size());
    for (const Tensor& input : inputs) part.push_back(input.slice_rows(begin, end));
    parts.push_back(run_over_batch_sizes(batch_sizes, part, run_one, model));
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

}  // namespace hepinfer
