#include "hepinfer/batching/splitting_model.h"

#include <algorithm>
#include <iostream>
#include <iterator>

#include "hepinfer/core/error.h"
#include "hepinfer/core/per_call_inputs.h"

namespace hepinfer::batching {
namespace {

std::string mib_text(std::int64_t bytes) { return std::to_string(bytes / (1024 * 1024)) + " MiB"; }

// "output 'prob'": the run's name for its output `index`, else its signature's key.
std::string output_label(const ModelInfo& info, const std::vector<std::string>& output_names,
                         const RunOptions& options, std::size_t index) {
  if (index < output_names.size()) return "output '" + output_names[index] + "'";
  const std::string& key = options.signature.empty() ? info.default_signature : options.signature;
  for (const SignatureInfo& signature : info.signatures) {
    if (signature.key == key && index < signature.outputs.size()) return "output '" + signature.outputs[index].key + "'";
  }
  return "output " + std::to_string(index);
}

std::string memory_text(const ModelInfo& info) {
  if (!info.memory) return "no measured memory model";
  return "measured need " + std::to_string(info.memory->fixed_bytes) + " B + " +
         std::to_string(info.memory->bytes_per_row) + " B per row";
}

// The rows shared by every input that follows the batch; -1 when there is none or they disagree.
std::int64_t common_rows(const std::vector<NamedTensor>& inputs, const std::vector<bool>& per_call,
                         std::string& disagreement) {
  std::int64_t rows = -1;
  const NamedTensor* first = nullptr;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const NamedTensor& input = inputs[i];
    if (per_call[i]) continue;
    if (first == nullptr) {
      first = &input;
      rows = input.tensor.rows();
    } else if (input.tensor.rows() != rows) {
      disagreement = "input '" + first->name + "' has " + std::to_string(rows) + " rows but '" + input.name +
                     "' has " + std::to_string(input.tensor.rows());
      return -1;
    }
  }
  return rows;
}

}  // namespace

SplittingModel::SplittingModel(std::shared_ptr<const Model> model, SplitOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  if (!model_) throw InvalidArgumentError("SplittingModel needs a model");
  const ModelInfo& info = model_->info();
  if (options_.max_batch_rows < 0 || options_.memory_budget_bytes < 0) {
    throw InvalidArgumentError("model '" + info.path + "': max_batch_rows and memory_budget_bytes must not be negative");
  }
  std::int64_t limit = options_.max_batch_rows;
  if (options_.memory_budget_bytes > 0) {
    if (!info.memory) {
      throw InvalidArgumentError("model '" + info.path +
                                 "': a memory budget needs the model's measured memory model (load it with "
                                 "measure_memory, or give max_batch_rows instead)");
    }
    const std::int64_t fitting = info.memory->max_rows_within(options_.memory_budget_bytes);
    if (fitting == 0) {
      throw ResourceExhaustedError("model '" + info.path + "': a budget of " + mib_text(options_.memory_budget_bytes) +
                                   " cannot hold one row (" + memory_text(info) + ")");
    }
    limit = limit > 0 ? std::min(limit, fitting) : fitting;
  }
  limit_.store(limit);
  if (!options_.on_out_of_memory) {
    options_.on_out_of_memory = [](const std::string& message) { std::clog << "hepinfer: " << message << std::endl; };
  }
}

ResourceExhaustedError SplittingModel::not_even_one_row(const ResourceExhaustedError& error) const {
  return ResourceExhaustedError("model '" + model_->info().path + "': even one row runs out of memory (budget " +
                                (options_.memory_budget_bytes > 0 ? mib_text(options_.memory_budget_bytes) : "none set") +
                                ", " + memory_text(model_->info()) + "): " + error.what());
}

void SplittingModel::note_backend_rows(std::int64_t rows) const {
  std::int64_t largest = largest_rows_.load(std::memory_order_relaxed);
  while (rows > largest && !largest_rows_.compare_exchange_weak(largest, rows, std::memory_order_relaxed)) {
  }
}

SplitStatistics SplittingModel::statistics() const {
  return {runs_.load(), split_runs_.load(), backend_runs_.load(), retries_.load(), batch_limit(),
          largest_rows_.load()};
}

void SplittingModel::lower_limit(std::int64_t failed_rows, const std::string& why) const {
  std::int64_t lowered = std::max<std::int64_t>(1, failed_rows / 2);
  // A limit between two of the backend's batch sizes would run padded to the size that failed.
  const std::vector<std::int64_t>& sizes = model_->info().batch_sizes;
  if (const auto above = std::upper_bound(sizes.begin(), sizes.end(), lowered); above != sizes.begin()) {
    lowered = *std::prev(above);
  }
  std::int64_t current = limit_.load();
  while ((current == 0 || current > lowered) && !limit_.compare_exchange_weak(current, lowered)) {
  }
  if (!reported_out_of_memory_.exchange(true)) {
    options_.on_out_of_memory("model '" + model_->info().path + "' ran out of memory at " +
                              std::to_string(failed_rows) + " rows; batches are now limited to " +
                              std::to_string(lowered) + " rows (" + why + ")");
  }
}

std::vector<Tensor> SplittingModel::run(const std::vector<NamedTensor>& inputs,
                                        const std::vector<std::string>& output_names,
                                        const RunOptions& options) const {
  runs_.fetch_add(1, std::memory_order_relaxed);
  std::string disagreement;
  const std::vector<bool> per_call = per_call_inputs(inputs, find_run_signature(model_->info(), options));
  const std::int64_t rows = common_rows(inputs, per_call, disagreement);
  if (rows < 0) {
    // No input with rows, or inputs that disagree: nothing to split by; the backend judges.
    backend_runs_.fetch_add(1, std::memory_order_relaxed);
    return model_->run(inputs, output_names, options);
  }
  const std::int64_t limit = batch_limit();
  if (rows <= 1 || limit == 0 || rows <= limit) {
    try {
      backend_runs_.fetch_add(1, std::memory_order_relaxed);
      std::vector<Tensor> outputs = model_->run(inputs, output_names, options);
      note_backend_rows(rows);
      return outputs;
    } catch (const ResourceExhaustedError& error) {
      if (rows <= 1) throw not_even_one_row(error);
      lower_limit(rows, error.what());
      retries_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  split_runs_.fetch_add(1, std::memory_order_relaxed);
  std::vector<std::vector<Tensor>> parts;  // [output][chunk]
  for (std::int64_t begin = 0; begin < rows;) {
    const std::int64_t end = std::min(rows, begin + std::max<std::int64_t>(1, batch_limit()));
    std::vector<std::vector<Tensor>> chunk = run_rows(inputs, per_call, output_names, options, begin, end);
    if (parts.empty()) parts.resize(chunk.size());
    for (std::size_t o = 0; o < chunk.size(); ++o) {
      for (Tensor& tensor : chunk[o]) parts[o].push_back(std::move(tensor));
    }
    begin = end;
  }
  std::vector<Tensor> outputs;
  outputs.reserve(parts.size());
  for (std::size_t o = 0; o < parts.size(); ++o) {
    outputs.push_back(parts[o].size() == 1 ? parts[o][0]
                                           : concat_rows(parts[o], output_label(model_->info(), output_names, options, o) +
                                                                       " of model '" + model_->info().path + "'"));
  }
  return outputs;
}

// Runs rows [begin, end) as one backend run, or in halves after an out-of-memory error.
// Returns [output][piece].
std::vector<std::vector<Tensor>> SplittingModel::run_rows(const std::vector<NamedTensor>& inputs,
                                                          const std::vector<bool>& per_call,
                                                          const std::vector<std::string>& output_names,
                                                          const RunOptions& options, std::int64_t begin,
                                                          std::int64_t end) const {
  std::vector<NamedTensor> chunk_inputs;
  chunk_inputs.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    chunk_inputs.push_back({inputs[i].name, per_call[i] ? inputs[i].tensor : inputs[i].tensor.slice_rows(begin, end)});
  }
  std::vector<Tensor> outputs;
  try {
    backend_runs_.fetch_add(1, std::memory_order_relaxed);
    outputs = model_->run(chunk_inputs, output_names, options);
    note_backend_rows(end - begin);
  } catch (const ResourceExhaustedError& error) {
    const std::int64_t rows = end - begin;
    if (rows == 1) throw not_even_one_row(error);
    lower_limit(rows, error.what());
    retries_.fetch_add(1, std::memory_order_relaxed);
    // Again in chunks of the lowered limit (at most half the rows).
    const std::int64_t step = std::max<std::int64_t>(1, batch_limit());
    std::vector<std::vector<Tensor>> pieces;
    for (std::int64_t chunk = begin; chunk < end; chunk += step) {
      std::vector<std::vector<Tensor>> part = run_rows(inputs, per_call, output_names, options, chunk, std::min(end, chunk + step));
      if (pieces.empty()) pieces.resize(part.size());
      for (std::size_t o = 0; o < part.size(); ++o) {
        for (Tensor& tensor : part[o]) pieces[o].push_back(std::move(tensor));
      }
    }
    return pieces;
  }
  std::vector<std::vector<Tensor>> pieces(outputs.size());
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    if (outputs[o].shape().rank() == 0 || outputs[o].rows() != end - begin) {
      throw ShapeMismatchError("model '" + model_->info().path + "': " +
                               output_label(model_->info(), output_names, options, o) + " is " +
                               outputs[o].description() + " for a chunk of " + std::to_string(end - begin) +
                               " rows; only models with one output row per input row can be split");
    }
    pieces[o].push_back(std::move(outputs[o]));
  }
  return pieces;
}

}  // namespace hepinfer::batching
