#pragma once
// The demo job: a miniature of a framework's event loop. S streams process events concurrently
// on a TBB arena of T threads; each stream takes the next event number, generates the event
// and runs the modules in order, then takes the next event. A synchronous module runs on the
// stream's thread; an asynchronous one submits (acquire) and frees the thread, and its
// completion enqueues the rest of the event (produce, later modules) into the arena, as a
// framework's external-work modules do. hepinfer adds no threads beyond the arena's and one
// dispatcher per batching module.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "job/inference_module.h"
#include "job/job_workflow.h"
#include "hepinfer/scheduler/plan.h"
#include "hepinfer/scheduler/resource_scheduler.h"

namespace hepinfer::framework {

struct JobProgress {
  std::int64_t events_done = 0;
  std::int64_t events_total = 0;
  double seconds = 0;  // since the event loop started
};

struct JobOptions {
  scheduler::Inventory inventory;
  scheduler::SchedulerHooks hooks;  // the backend's, e.g. tf::runtime_hooks()
  ModelLoader load;
  // Called on run_job's thread every `progress_interval` during the event loop, and once at its end.
  std::function<void(const JobProgress&)> progress;
  std::chrono::milliseconds progress_interval{200};
  // When set, no stream starts another event; the events in flight complete.
  const std::atomic<bool>* stop = nullptr;
};

struct JobReport {
  scheduler::Plan plan;
  JobSettings settings;
  std::int64_t events_processed = 0;
  bool interrupted = false;  // stopped through JobOptions::stop
  std::string error;         // the error that stopped the job early; empty: none
  double begin_job_seconds = 0;
  double event_loop_seconds = 0;
  double events_per_second = 0;
  double cpu_seconds = 0;     // process CPU time (user + system) during the event loop
  double cpu_efficiency = 0;  // cpu_seconds / (event_loop_seconds * threads)
  std::int64_t peak_rss_bytes = 0;
  int peak_threads = 0;  // the process's threads, sampled during the event loop
  std::vector<ModuleReport> modules;

  std::int64_t failed_checks() const;
  bool succeeded() const { return error.empty() && failed_checks() == 0; }
};

// Constructs the modules (claims), plans, begins the job (loads models), runs the events and
// ends the job. Throws what construction, planning or loading throws (nothing is left running);
// an error while processing events stops the job and is returned in JobReport::error with the
// statistics so far.
JobReport run_job(const JobWorkflow& workflow, const JobOptions& options);

}  // namespace hepinfer::framework
