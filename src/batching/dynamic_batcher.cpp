#include "hepinfer/batching/dynamic_batcher.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "hepinfer/core/error.h"
#include "hepinfer/core/per_call_inputs.h"

namespace hepinfer::batching {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kLatencyWindow = 100'000;

double microseconds(Clock::duration duration) { return std::chrono::duration<double, std::micro>(duration).count(); }

// The rows every input that follows the batch shares, or -1 if the request cannot be merged with
// others (no such input, or inputs that disagree).
std::int64_t mergeable_rows(const std::vector<NamedTensor>& inputs, const std::vector<bool>& per_call) {
  std::int64_t rows = -1;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (per_call[i]) continue;
    if (rows >= 0 && inputs[i].tensor.rows() != rows) return -1;
    rows = inputs[i].tensor.rows();
  }
  return rows;
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.byte_size() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.byte_size()) == 0);
}

// Whether `other` can share a backend run with `head`: same names, signature and threading, every
// input that follows the batch of the same dtype and row shape, and every per-call input equal
// (the merged run feeds one).
bool compatible(const std::vector<NamedTensor>& head_inputs, const std::vector<std::string>& head_outputs,
                const RunOptions& head_options, const std::vector<bool>& per_call,
                const std::vector<NamedTensor>& inputs, const std::vector<std::string>& outputs,
                const RunOptions& options) {
  if (head_outputs != outputs || head_options.signature != options.signature ||
      head_options.threading != options.threading || head_inputs.size() != inputs.size()) {
    return false;
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& a = head_inputs[i].tensor;
    const Tensor& b = inputs[i].tensor;
    if (head_inputs[i].name != inputs[i].name) return false;
    if (per_call[i]) {
      if (!same_values(a, b)) return false;
      continue;
    }
    if (a.dtype() != b.dtype() || a.shape().rank() != b.shape().rank()) return false;
    for (std::size_t axis = 1; axis < a.shape().dims().size(); ++axis) {
      if (a.shape()[axis] != b.shape()[axis]) return false;
    }
  }
  return true;
}

}  // namespace

// Counters and the most recent latencies. Written by the dispatcher, read by statistics().
struct DynamicBatcher::Recorder {
  std::mutex mutex;
  BatcherStatistics totals;
  std::vector<double> queue_delays_us, executions_us;  // rings of kLatencyWindow
  std::size_t next_delay = 0, next_execution = 0;

  static void push(std::vector<double>& ring, std::size_t& next, double value) {
    if (ring.size() < kLatencyWindow) {
      ring.push_back(value);
    } else {
      ring[next] = value;
      next = (next + 1) % kLatencyWindow;
    }
  }
};

DynamicBatcher::DynamicBatcher(std::shared_ptr<const Model> model, BatcherOptions options)
    : model_(std::move(model)),
      splitter_(model_, [&] {
        if (options.max_batch_rows < 1 || options.max_delay.count() < 0 || options.batches_in_flight < 1) {
          throw InvalidArgumentError("dynamic batcher for model '" + (model_ ? model_->info().path : "") +
                                     "': max_batch_rows and batches_in_flight must be >= 1 and max_delay >= 0");
        }
        SplitOptions split = options.split;
        split.max_batch_rows = options.max_batch_rows;
        return split;
      }()),
      options_(std::move(options)),
      recorder_(std::make_unique<Recorder>()) {
  try {
    dispatchers_.reserve(static_cast<std::size_t>(options_.batches_in_flight));
    for (int i = 0; i < options_.batches_in_flight; ++i) dispatchers_.emplace_back([this] { dispatch(); });
  } catch (...) {
    stop_dispatchers();  // the ones already started, so that none outlives a failed construction
    throw;
  }
}

DynamicBatcher::~DynamicBatcher() { stop_dispatchers(); }

void DynamicBatcher::stop_dispatchers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  arrived_.notify_all();
  for (std::thread& dispatcher : dispatchers_) dispatcher.join();
}

bool DynamicBatcher::on_a_dispatcher() const {
  const std::thread::id self = std::this_thread::get_id();
  return std::any_of(dispatchers_.begin(), dispatchers_.end(),
                     [self](const std::thread& dispatcher) { return dispatcher.get_id() == self; });
}

void DynamicBatcher::complete(Request& request, BatchResult result) {
  if (request.slot) {
    const std::shared_ptr<SyncSlot> slot = std::move(request.slot);
    slot->result = std::move(result);
    slot->ready.store(true, std::memory_order_release);
    slot->ready.notify_one();
    return;
  }
  try {
    request.done(std::move(result));
  } catch (...) {
    // A callback has nowhere to report to; the batcher keeps serving the others.
  }
}

void DynamicBatcher::enqueue(Request request) const {
  request.per_call = per_call_inputs(request.inputs, find_run_signature(model_->info(), request.options));
  request.rows = mergeable_rows(request.inputs, request.per_call);
  request.submitted = Clock::now();
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back(std::move(request));
      // All: the dispatcher forming a batch must hear of it, and with several dispatchers the
      // one woken by notify_one could be an idle one that is waiting for its turn.
      arrived_.notify_all();
      return;
    }
  }
  complete(request, {{}, std::make_exception_ptr(FailedPreconditionError(
                             "the dynamic batcher of model '" + model_->info().path +
                             "' is shutting down and takes no new requests"))});
}

void DynamicBatcher::submit(std::vector<NamedTensor> inputs, std::vector<std::string> output_names,
                            std::function<void(BatchResult)> done, RunOptions options) const {
  Request request;
  request.inputs = std::move(inputs);
  request.output_names = std::move(output_names);
  request.options = std::move(options);
  request.done = std::move(done);
  enqueue(std::move(request));
}

std::future<std::vector<Tensor>> DynamicBatcher::submit(std::vector<NamedTensor> inputs,
                                                        std::vector<std::string> output_names,
                                                        RunOptions options) const {
  auto promise = std::make_shared<std::promise<std::vector<Tensor>>>();
  std::future<std::vector<Tensor>> future = promise->get_future();
  submit(std::move(inputs), std::move(output_names), [promise](BatchResult result) {
    if (result.error) {
      promise->set_exception(result.error);
    } else {
      promise->set_value(std::move(result.outputs));
    }
  }, std::move(options));
  return future;
}

std::vector<Tensor> DynamicBatcher::run(const std::vector<NamedTensor>& inputs,
                                        const std::vector<std::string>& output_names,
                                        const RunOptions& options) const {
  if (on_a_dispatcher()) {
    throw FailedPreconditionError("model '" + model_->info().path +
                                  "': a dynamic batcher's callback may not wait for the same batcher");
  }
  auto slot = std::make_shared<SyncSlot>();
  Request request;
  request.inputs = inputs;
  request.output_names = output_names;
  request.options = options;
  request.slot = slot;
  enqueue(std::move(request));
  slot->ready.wait(false, std::memory_order_acquire);
  if (slot->result.error) std::rethrow_exception(slot->result.error);
  return std::move(slot->result.outputs);
}

void DynamicBatcher::dispatch() {
  std::unique_lock lock(mutex_);
  while (true) {
    arrived_.wait(lock, [this] { return (!forming_ && !queue_.empty()) || (stopping_ && queue_.empty()); });
    if (queue_.empty()) return;  // stopping, and everything pending is done
    forming_ = true;
    std::vector<Request> batch = take_batch(lock);
    forming_ = false;
    arrived_.notify_all();  // another dispatcher may form the next batch from what is left
    lock.unlock();
    execute(batch);
    lock.lock();
  }
}

// Waits up to max_delay after the head request for the batch to fill (not when stopping), then
// takes the head and every compatible request behind it that still fits, in arrival order.
std::vector<DynamicBatcher::Request> DynamicBatcher::take_batch(std::unique_lock<std::mutex>& lock) {
  const Clock::time_point deadline = queue_.front().submitted + options_.max_delay;
  auto queued_rows = [this] {
    std::int64_t rows = 0;
    for (const Request& request : queue_) rows += std::max<std::int64_t>(request.rows, 0);
    return rows;
  };
  while (!stopping_ && queue_.front().rows >= 0 && queue_.front().rows < options_.max_batch_rows &&
         queued_rows() < options_.max_batch_rows && Clock::now() < deadline) {
    arrived_.wait_until(lock, deadline);
  }

  std::vector<Request> batch;
  batch.push_back(std::move(queue_.front()));
  queue_.pop_front();
  if (batch[0].rows < 0 || batch[0].rows >= options_.max_batch_rows) return batch;  // runs alone
  std::int64_t rows = batch[0].rows;
  for (auto it = queue_.begin(); it != queue_.end() && rows < options_.max_batch_rows;) {
    const Request& head = batch[0];  // re-read: push_back below may move the vector
    if (it->rows >= 0 && rows + it->rows <= options_.max_batch_rows &&
        compatible(head.inputs, head.output_names, head.options, head.per_call, it->inputs, it->output_names,
                   it->options)) {
      rows += it->rows;
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return batch;
}

void DynamicBatcher::run_alone(Request& request) {
  BatchResult result;
  try {
    result.outputs = splitter_.run(request.inputs, request.output_names, request.options);
  } catch (...) {
    result.error = std::current_exception();
  }
  {
    std::lock_guard lock(recorder_->mutex);
    recorder_->totals.requests += 1;
    recorder_->totals.rows += std::max<std::int64_t>(request.rows, 0);
    if (result.error) recorder_->totals.failed_requests += 1;
  }
  complete(request, std::move(result));
}

void DynamicBatcher::execute(std::vector<Request>& batch) {
  const Clock::time_point start = Clock::now();
  record_queue_delays(batch, start);
  if (batch.size() == 1) {
    run_alone(batch.front());
    record_execution(start, /*runs=*/1);
    return;
  }
  std::optional<std::vector<Tensor>> outputs = run_merged(batch);
  record_execution(start, /*runs=*/1);
  if (!outputs) {
    // One request may be at fault: each is retried alone, so that errors land where they belong.
    for (Request& request : batch) {
      run_alone(request);
      record_execution(start, /*runs=*/1, /*timed=*/false);
    }
    return;
  }
  distribute(batch, *outputs);
}

void DynamicBatcher::record_queue_delays(const std::vector<Request>& batch, Clock::time_point start) {
  std::lock_guard lock(recorder_->mutex);
  for (const Request& request : batch) {
    Recorder::push(recorder_->queue_delays_us, recorder_->next_delay, microseconds(start - request.submitted));
  }
}

void DynamicBatcher::record_execution(Clock::time_point start, std::int64_t runs, bool timed) {
  std::lock_guard lock(recorder_->mutex);
  recorder_->totals.executions += runs;
  if (timed) Recorder::push(recorder_->executions_us, recorder_->next_execution, microseconds(Clock::now() - start));
}

std::optional<std::vector<Tensor>> DynamicBatcher::run_merged(const std::vector<Request>& batch) {
  std::int64_t total_rows = 0;
  for (const Request& request : batch) total_rows += request.rows;
  try {
    std::vector<NamedTensor> merged;
    for (std::size_t i = 0; i < batch.front().inputs.size(); ++i) {
      if (batch.front().per_call[i]) {  // equal in every request (compatible)
        merged.push_back(batch.front().inputs[i]);
        continue;
      }
      std::vector<Tensor> parts;
      parts.reserve(batch.size());
      for (const Request& request : batch) parts.push_back(request.inputs[i].tensor);
      merged.push_back({batch.front().inputs[i].name, concat_rows(parts, "input '" + batch.front().inputs[i].name + "'")});
    }
    std::vector<Tensor> outputs = splitter_.run(merged, batch.front().output_names, batch.front().options);
    const bool by_row = std::all_of(outputs.begin(), outputs.end(), [&](const Tensor& output) {
      return output.shape().rank() > 0 && output.rows() == total_rows;
    });
    if (by_row) return outputs;
  } catch (...) {
  }
  return std::nullopt;  // failed, or outputs that cannot be cut back into the requests' rows
}

void DynamicBatcher::distribute(std::vector<Request>& batch, const std::vector<Tensor>& outputs) {
  std::int64_t offset = 0;
  {
    std::lock_guard lock(recorder_->mutex);
    recorder_->totals.requests += static_cast<std::int64_t>(batch.size());
    for (const Request& request : batch) recorder_->totals.rows += request.rows;
  }
  for (Request& request : batch) {
    BatchResult result;
    result.outputs.reserve(outputs.size());
    for (const Tensor& output : outputs) result.outputs.push_back(output.slice_rows(offset, offset + request.rows));
    offset += request.rows;
    complete(request, std::move(result));
  }
}

BatcherStatistics DynamicBatcher::statistics() const {
  std::lock_guard lock(recorder_->mutex);
  BatcherStatistics statistics = recorder_->totals;
  statistics.mean_batch_rows =
      statistics.executions == 0 ? 0 : static_cast<double>(statistics.rows) / static_cast<double>(statistics.executions);
  statistics.queue_delay = summarise_latencies(recorder_->queue_delays_us);
  statistics.execution = summarise_latencies(recorder_->executions_us);
  return statistics;
}

}  // namespace hepinfer::batching
