#pragma once
// A Model that never hands its backend more rows than fit: batches above the limit are split
// into chunks that run one after another, and their outputs are concatenated, so the caller
// gets one result equal to an unsplit run. An out-of-memory error from the backend lowers the
// remembered limit to half the failed chunk (for a backend that pads to fixed batch sizes,
// ModelInfo::batch_sizes, the largest of them not above that half) and runs the chunk again in
// pieces of the new limit, down to one row. Backend-neutral.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "hepinfer/core/error.h"
#include "hepinfer/core/model.h"

namespace hepinfer::batching {

struct SplitOptions {
  // Most rows per backend run. 0: derived from `memory_budget_bytes` and the model's measured
  // MemoryModel; unlimited (until an out-of-memory error sets a limit) when neither is given.
  std::int64_t max_batch_rows = 0;
  // The memory one run may use: the scheduler's memory per GPU, or a CPU budget chosen by the
  // user. Needs ModelInfo::memory (tf::LoadOptions::measure_memory).
  std::int64_t memory_budget_bytes = 0;
  // Called once per model, the first time an out-of-memory error lowers the limit. Default:
  // one line on std::clog.
  std::function<void(const std::string& message)> on_out_of_memory;
};

struct SplitStatistics {
  std::int64_t runs = 0;                   // calls of run()
  std::int64_t split_runs = 0;             // runs that needed more than one backend run
  std::int64_t backend_runs = 0;           // chunks run, including retried ones
  std::int64_t out_of_memory_retries = 0;  // chunks halved after an out-of-memory error
  std::int64_t batch_limit = 0;            // current limit; 0: none
  std::int64_t largest_backend_rows = 0;   // rows of the largest backend run that succeeded
};

class SplittingModel final : public Model {
 public:
  // Throws InvalidArgumentError for a budget without a memory model, ResourceExhaustedError
  // for a budget that cannot hold one row (naming the budget and the measured need).
  SplittingModel(std::shared_ptr<const Model> model, SplitOptions options = {});

  const ModelInfo& info() const override { return model_->info(); }
  // Per-call inputs (scalars, and tensors whose first dimension the signature fixes while another
  // input's is open: core/per_call_inputs.h) are passed whole to every chunk; all others must share
  // their first dimension. Every output must have one row per input row when a batch is split.
  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options = {}) const override;

  std::int64_t batch_limit() const { return limit_.load(std::memory_order_relaxed); }
  SplitStatistics statistics() const;

 private:
  std::vector<std::vector<Tensor>> run_rows(const std::vector<NamedTensor>& inputs, const std::vector<bool>& per_call,
                                            const std::vector<std::string>& output_names, const RunOptions& options,
                                            std::int64_t begin, std::int64_t end) const;
  void note_backend_rows(std::int64_t rows) const;
  void lower_limit(std::int64_t failed_rows, const std::string& why) const;
  ResourceExhaustedError not_even_one_row(const ResourceExhaustedError& error) const;

  std::shared_ptr<const Model> model_;
  SplitOptions options_;
  mutable std::atomic<std::int64_t> limit_{0};
  mutable std::atomic<bool> reported_out_of_memory_{false};
  mutable std::atomic<std::int64_t> runs_{0}, split_runs_{0}, backend_runs_{0}, retries_{0}, largest_rows_{0};
};

}  // namespace hepinfer::batching
