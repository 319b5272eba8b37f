#pragma once
// One module of the demo job, with a framework module's life cycle:
//
//   constructor  declares the module's claim to the scheduler (modules may be built concurrently)
//   begin_job    after the plan: loads the model with the module's assignment (the loader warms
//                it up), wraps it in splitting and, if asked, dynamic batching
//   per event    process() on the event's thread, or acquire() + produce() (external work: the
//                thread is free while the batcher works)
//   end_job      completes pending requests; report() summarises
//
// Every output is checked: row count, probabilities that sum to one, finite values, and, for the
// first events, agreement with Python TensorFlow (reference.json beside the model, written by
// tools/make_demo_models.py for its seed).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/batching/splitting_model.h"
#include "hepinfer/core/model.h"
#include "job/job_workflow.h"
#include "job/synthetic_events.h"
#include "hepinfer/scheduler/resource_scheduler.h"

namespace hepinfer::framework {

// Opens a module's model on the device the plan gave it, warmed up. The CLI passes TensorFlow's
// loader; tests pass in-process models.
using ModelLoader = std::function<std::shared_ptr<const Model>(const ModuleSetup&, const scheduler::Assignment&)>;

struct ModuleReport {
  std::string name;
  ModuleKind kind = ModuleKind::kEventClassifier;
  ExecutionMode mode = ExecutionMode::kSync;
  bool batching = false;
  std::string device;           // where the model ran: "CPU" or "GPU 0" (ModelInfo::gpu)
  std::string assigned_device;  // what the plan gave the module: "CPU" or "GPU 0"
  std::string placement_note;   // why `device` differs from `assigned_device` (ModelInfo::placement_note)
  // A module on inference servers: each move to another server or to the local fallback, when
  // and why; requests its local fallback answered; attempts sent again.
  std::vector<std::string> failovers;
  std::int64_t local_runs = 0;
  std::int64_t remote_retries = 0;
  std::string backend_device;   // where the backend placed it, in its words (ModelInfo::device)
  std::int64_t memory_budget_bytes = 0;               // 0: none
  std::optional<std::int64_t> estimated_peak_bytes;   // memory model at the largest backend run
  std::int64_t calls = 0;           // events the module completed
  std::int64_t rows = 0;
  std::int64_t model_runs = 0;      // runs the module asked of the model (batched: merged runs)
  std::int64_t backend_runs = 0;    // after splitting
  std::int64_t split_runs = 0;
  std::int64_t out_of_memory_retries = 0;
  std::int64_t largest_backend_rows = 0;
  double mean_batch_rows = 0;       // rows / model_runs
  double latency_p50_us = 0, latency_p99_us = 0;  // per call: start to outputs checked
  double rows_per_second = 0;       // over the job's event loop
  double load_ms = 0, warmup_ms = 0;
  std::int64_t reference_events_checked = 0;
  double reference_max_difference = 0;
  std::int64_t failed_checks = 0;
  std::string first_failure;
  double checksum = 0;  // weighted sum of all outputs (each event's rounded to 2^-16)
};

class InferenceModule {
 public:
  struct Acquired {
    batching::BatchResult result;
    std::chrono::steady_clock::time_point started;
  };

  // Claims the module's resources. `seed` selects the reference outputs that apply.
  InferenceModule(ModuleSetup setup, scheduler::ResourceScheduler& scheduler, std::uint64_t seed);
  ~InferenceModule();
  InferenceModule(const InferenceModule&) = delete;
  InferenceModule& operator=(const InferenceModule&) = delete;

  const ModuleSetup& setup() const { return setup_; }
  bool asynchronous() const { return setup_.mode == ExecutionMode::kAsync; }

  // Throws FailedPreconditionError before the plan, and whatever the loader throws.
  void begin_job(const ModelLoader& load);
  // Runs and checks the event's inference on the calling thread. Throws the model's errors.
  void process(const SyntheticEvent& event);
  // Submits the event's inference and returns; `resume` runs on the batcher's thread once the
  // outputs (or an error) are back and should only schedule produce().
  void acquire(const SyntheticEvent& event, std::function<void(Acquired)> resume);
  // Checks what acquire() got back. Rethrows the request's error.
  void produce(const SyntheticEvent& event, Acquired acquired);
  // Completes pending requests and releases the model.
  void end_job();

  ModuleReport report(double event_loop_seconds) const;

 private:
  struct Reference;
  std::vector<NamedTensor> inputs_for(const SyntheticEvent& event) const;
  void check(const SyntheticEvent& event, const std::vector<Tensor>& outputs,
             std::chrono::steady_clock::time_point started);
  void fail_check(const std::string& message);

  ModuleSetup setup_;
  std::uint64_t seed_;
  scheduler::ClaimTicket ticket_;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<batching::SplittingModel> splitter_;
  std::unique_ptr<batching::DynamicBatcher> batcher_;
  std::unique_ptr<Reference> reference_;
  std::int64_t memory_budget_bytes_ = 0;

  mutable std::mutex mutex_;  // guards everything below
  // Sum of each event's checksum in fixed point, so that the total does not depend on the order
  // in which streams finish events.
  std::int64_t checksum_fixed_ = 0;
  std::vector<float> latencies_us_;
  std::int64_t calls_ = 0, rows_ = 0, failed_checks_ = 0, reference_checked_ = 0;
  double reference_max_difference_ = 0;
  std::string first_failure_;
};

}  // namespace hepinfer::framework
