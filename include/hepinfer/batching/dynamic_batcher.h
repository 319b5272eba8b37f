#pragma once
// Dynamic batching: concurrent requests from many threads, each with its own rows (1 or more),
// are coalesced into one backend run of up to `max_batch_rows` rows, and each requester gets
// exactly its own rows of the outputs back. A request larger than the limit runs alone and is
// split (SplittingModel), never rejected. Per-call inputs (a scalar threshold, a fixed table:
// core/per_call_inputs.h) are not rows: requests share a run only when theirs are equal.
//
// Threading: each batcher owns `batches_in_flight` dispatcher threads (one by default) that form
// batches and run them; they are created with the batcher and joined by its destructor, and they
// are the only threads the batcher adds. One dispatcher forms a batch at a time; with more than
// one, the next batch forms and starts while earlier ones are still running, which pays for a
// backend whose runs wait rather than compute (a remote server, a GPU): a request that just
// missed a batch no longer waits for that batch's round trip. Synchronous callers sleep while
// their batch runs (no spinning); asynchronous callers return at once and their callback runs on
// a dispatcher thread, which suits a framework's external-work pattern (acquire: submit;
// callback: resume the waiting task; produce: read). The backend run itself uses the model's
// threading mode, so with `inline` all of TF's work for a batch happens on its dispatcher thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "hepinfer/batching/splitting_model.h"
#include "hepinfer/core/latency.h"
#include "hepinfer/core/model.h"

namespace hepinfer::batching {

struct BatcherOptions {
  std::int64_t max_batch_rows = 64;           // most rows one backend run gets
  std::chrono::microseconds max_delay{100};   // how long a batch's first request waits for more
  int batches_in_flight = 1;                   // backend runs at once (one dispatcher thread each)
  SplitOptions split;  // how requests above the limit are split (max_batch_rows is taken from above)
};

// Percentiles over the most recent requests (up to 100 000).
using hepinfer::LatencySummary;

struct BatcherStatistics {
  std::int64_t requests = 0;    // completed, successfully or not
  std::int64_t rows = 0;
  std::int64_t executions = 0;  // backend runs the batcher started
  std::int64_t failed_requests = 0;
  double mean_batch_rows = 0;   // rows / executions
  LatencySummary queue_delay;   // submit to start of the request's batch
  LatencySummary execution;     // one batch's backend run
};

// The outcome of one asynchronous request: outputs, or the error that failed it.
struct BatchResult {
  std::vector<Tensor> outputs;
  std::exception_ptr error;
};

class DynamicBatcher final : public Model {
 public:
  // Starts the dispatcher threads. Throws InvalidArgumentError for a row limit or batches in
  // flight below 1, or a negative delay.
  DynamicBatcher(std::shared_ptr<const Model> model, BatcherOptions options = {});
  // Stops taking requests, completes every pending one, joins the dispatchers.
  ~DynamicBatcher() override;

  const ModelInfo& info() const override { return model_->info(); }

  // Synchronous: submits and sleeps until this request's rows are back. Errors are rethrown.
  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options = {}) const override;

  // Asynchronous: returns at once; `done` runs on a dispatcher thread (keep it short; an
  // exception it throws is dropped). After shutdown began, `done` gets a FailedPreconditionError.
  void submit(std::vector<NamedTensor> inputs, std::vector<std::string> output_names,
              std::function<void(BatchResult)> done, RunOptions options = {}) const;
  std::future<std::vector<Tensor>> submit(std::vector<NamedTensor> inputs,
                                          std::vector<std::string> output_names, RunOptions options = {}) const;

  BatcherStatistics statistics() const;

 private:
  // Where a synchronous caller sleeps until its result is written. Shared, so that the
  // dispatcher's notify never touches a slot its caller has already destroyed.
  struct SyncSlot {
    BatchResult result;
    std::atomic<bool> ready{false};
  };
  struct Request {
    std::vector<NamedTensor> inputs;
    std::vector<std::string> output_names;
    RunOptions options;
    std::vector<bool> per_call;  // per input: fed whole, not by rows (core/per_call_inputs.h)
    std::int64_t rows = -1;      // -1: runs alone (no input with rows, or inputs that disagree on rows)
    std::shared_ptr<SyncSlot> slot;          // synchronous callers
    std::function<void(BatchResult)> done;  // asynchronous callers
    std::chrono::steady_clock::time_point submitted;
  };
  struct Recorder;

  void enqueue(Request request) const;
  static void complete(Request& request, BatchResult result);
  void dispatch();
  void stop_dispatchers();
  bool on_a_dispatcher() const;
  std::vector<Request> take_batch(std::unique_lock<std::mutex>& lock);
  void execute(std::vector<Request>& batch);
  void run_alone(Request& request);
  // The merged run of a batch's requests; nullopt if it failed or its outputs do not follow rows.
  std::optional<std::vector<Tensor>> run_merged(const std::vector<Request>& batch);
  // Cuts the merged outputs back into the requests' rows and completes them.
  void distribute(std::vector<Request>& batch, const std::vector<Tensor>& outputs);
  void record_queue_delays(const std::vector<Request>& batch, std::chrono::steady_clock::time_point start);
  // `runs` backend runs; with `timed`, the time since `start` is one run's time.
  void record_execution(std::chrono::steady_clock::time_point start, std::int64_t runs, bool timed = true);

  std::shared_ptr<const Model> model_;
  SplittingModel splitter_;  // runs every batch, splitting requests above the limit
  BatcherOptions options_;
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  mutable std::deque<Request> queue_;
  bool stopping_ = false;
  bool forming_ = false;  // a dispatcher is forming a batch: the others wait their turn
  std::unique_ptr<Recorder> recorder_;
  std::vector<std::thread> dispatchers_;  // last: start after everything above exists
};

}  // namespace hepinfer::batching
