#pragma once
// Running any number of rows on functions compiled for a few fixed batch sizes (XLA programs, AOT
// functions): the rows go to the smallest size that holds them, or are split over the largest.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/core/model.h"
#include "hepinfer/core/tensor.h"

namespace hepinfer {

// A part of a run, for a function compiled at one batch size: the inputs in the signature's order,
// those that follow the batch holding `rows` rows (at most that batch size), the per-call ones
// (core/per_call_inputs.h) whole.
struct BatchPart {
  const std::vector<Tensor>& inputs;
  const std::vector<bool>& per_call;
  std::int64_t rows;
};

// Runs `inputs` (per_call as in BatchPart; rows > 0, equal in every other input) in parts of at
// most batch_sizes.back() rows (batch_sizes increasing and positive). `run_one(size_index, part)`
// runs a part whose rows fit in batch_sizes[size_index] (padding it itself if fewer) and returns
// outputs with the part's rows; split parts are concatenated. `model` names the model in errors.
using RunOnBatchSize = std::function<std::vector<Tensor>(std::size_t size_index, const BatchPart& part)>;
std::vector<Tensor> run_over_batch_sizes(std::span<const std::int64_t> batch_sizes, const std::vector<Tensor>& inputs,
                                         const std::vector<bool>& per_call, const RunOnBatchSize& run_one,
                                         std::string_view model);

// A Model::run of a model compiled for fixed batch sizes whose outputs all follow the batch
// ([-1, known...]): binds `inputs` to `signature`, answers an empty batch from the outputs'
// metadata without running, runs the rows over `batch_sizes` (run_over_batch_sizes), and returns
// the outputs `output_names` asks for (none: every output, in the signature's order). `per_call`
// is per_call_flags(signature), which the caller computes once (at load), not at every run.
std::vector<Tensor> run_signature_over_batch_sizes(const SignatureInfo& signature, const std::vector<bool>& per_call,
                                                   const std::vector<NamedTensor>& inputs,
                                                   const std::vector<std::string>& output_names,
                                                   std::span<const std::int64_t> batch_sizes,
                                                   const RunOnBatchSize& run_one, std::string_view model);

// `tensor` with `rows` (>= its rows) rows: its own first, zeros after.
Tensor padded_to_rows(const Tensor& tensor, std::int64_t rows);

}  // namespace hepinfer
