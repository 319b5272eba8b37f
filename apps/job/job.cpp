#include "job/job.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "hepinfer/core/error.h"
#include "process_usage.h"
#include "tbb/global_control.h"
#include "tbb/task_arena.h"

#if defined(__SANITIZE_THREAD__)
#define HEPINFER_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HEPINFER_THREAD_SANITIZER 1
#endif
#endif
#ifdef HEPINFER_THREAD_SANITIZER
#include <sanitizer/tsan_interface.h>
#endif

namespace hepinfer::framework {
namespace {

// TBB's library is not built with ThreadSanitizer, so the happens-before its task queue gives is
// invisible to TSan; these tell it about the hand-off explicitly (no-ops in other builds).
void handed_over([[maybe_unused]] void* token) {
#ifdef HEPINFER_THREAD_SANITIZER
  __tsan_release(token);
#endif
}
void taken_over([[maybe_unused]] void* token) {
#ifdef HEPINFER_THREAD_SANITIZER
  __tsan_acquire(token);
#endif
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

// The streams' work as a chain of arena tasks per stream. A stream's task runs modules until an
// asynchronous one takes the event; that module's completion enqueues the continuation.
class EventLoop {
 public:
  EventLoop(std::vector<std::unique_ptr<InferenceModule>>& modules, const JobSettings& settings,
            const std::atomic<bool>* external_stop)
      : modules_(modules), settings_(settings), external_stop_(external_stop), arena_(settings.threads, 0) {}

  void start() {
    for (int stream = 0; stream < settings_.streams; ++stream) schedule([this] { continue_event(nullptr); });
  }

  // Waits for every task; calls `tick` on this thread meanwhile.
  void wait(std::chrono::milliseconds interval, const std::function<void()>& tick) {
    std::unique_lock lock(mutex_);
    while (!idle_.wait_for(lock, interval, [this] { return outstanding_ == 0; })) {
      lock.unlock();
      tick();
      lock.lock();
    }
  }

  std::int64_t events_done() const { return events_done_.load(); }
  std::string first_error() const {
    const std::lock_guard lock(mutex_);
    return first_error_;
  }

 private:
  struct InFlight {
    SyntheticEvent event;
    std::size_t next_module = 0;
  };

  // The arena's task carries no data: it runs whichever piece of work is first in `ready_`.
  // Handing work over through a mutex (not through the task's closure) keeps the hand-off
  // visible to ThreadSanitizer, which cannot see the synchronisation inside TBB's library.
  void schedule(std::function<void()> work) {
    {
      const std::lock_guard lock(mutex_);
      ++outstanding_;
      ready_.push_back(std::move(work));
    }
    handed_over(this);
    arena_.enqueue(RunNext{this});
  }

  // What the arena runs. Its one read, of its pointer from the task object TBB built on the
  // enqueuing thread, is left uninstrumented; taken_over() then gives TSan the happens-before
  // TBB provided, and run_next() and everything it calls is checked.
  struct RunNext {
    EventLoop* loop;
    __attribute__((no_sanitize("thread"))) void operator()() const {
      taken_over(loop);
      loop->run_next();
    }
  };

  [[gnu::noinline]] void run_next() {
    std::function<void()> work;
    {
      const std::lock_guard lock(mutex_);
      work = std::move(ready_.front());
      ready_.pop_front();
    }
    try {
      work();
    } catch (...) {
      record_error(std::current_exception());
    }
    finished_one();
  }

  // A request out with an asynchronous module counts as work until its continuation is scheduled.
  void add_outstanding() {
    const std::lock_guard lock(mutex_);
    ++outstanding_;
  }

  // Ends one unit of outstanding work. wait() may return (and the loop be destroyed) as soon as
  // it sees zero, so nothing may touch the loop after the last decrement but this locked section.
  void finished_one() {
    const std::lock_guard lock(mutex_);
    if (--outstanding_ == 0) idle_.notify_all();
  }

  void record_error(std::exception_ptr error) {
    const std::lock_guard lock(mutex_);
    if (first_error_.empty()) first_error_ = describe(error);
    failed_.store(true);
  }

  std::shared_ptr<InFlight> next_event() {
    if (failed_.load() || (external_stop_ != nullptr && external_stop_->load())) return nullptr;
    const std::int64_t number = next_number_.fetch_add(1);
    if (number >= settings_.events) return nullptr;
    return std::make_shared<InFlight>(InFlight{make_synthetic_event(settings_.seed, number)});
  }

  void continue_event(std::shared_ptr<InFlight> current) {
    while (true) {
      if (!current && !(current = next_event())) return;  // the stream is done
      while (current->next_module < modules_.size()) {
        const std::size_t index = current->next_module;
        InferenceModule& module = *modules_[index];
        if (module.asynchronous()) {
          add_outstanding();
          try {
            module.acquire(current->event, [this, current, index](InferenceModule::Acquired acquired) {
              schedule([this, current, index, acquired = std::move(acquired)]() mutable {
                modules_[index]->produce(current->event, std::move(acquired));
                ++current->next_module;
                continue_event(current);
              });
              finished_one();
            });
          } catch (...) {
            finished_one();
            throw;
          }
          return;  // this thread is free; the completion continues the event
        }
        module.process(current->event);
        ++current->next_module;
      }
      events_done_.fetch_add(1);
      current.reset();
    }
  }

  std::vector<std::unique_ptr<InferenceModule>>& modules_;
  const JobSettings& settings_;
  const std::atomic<bool>* external_stop_;
  tbb::task_arena arena_;
  std::atomic<std::int64_t> next_number_{0}, events_done_{0};
  std::atomic<bool> failed_{false};
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  int outstanding_ = 0;                         // guarded by mutex_
  std::deque<std::function<void()>> ready_;     // guarded by mutex_
  std::string first_error_;
};

}  // namespace

std::int64_t JobReport::failed_checks() const {
  std::int64_t total = 0;
  for (const ModuleReport& module : modules) total += module.failed_checks;
  return total;
}

JobReport run_job(const JobWorkflow& workflow, const JobOptions& options) {
  if (!options.load) throw InvalidArgumentError("run_job: JobOptions::load (the model loader) is not set");
  const JobSettings settings = with_defaults(workflow.job);
  if (settings.streams < 1 || settings.threads < 1 || settings.events < 0) {
    throw InvalidArgumentError("job '" + workflow.source + "': needs streams >= 1, threads >= 1 and events >= 0, got " +
                               std::to_string(settings.streams) + ", " + std::to_string(settings.threads) + ", " +
                               std::to_string(settings.events));
  }
  JobReport report{.settings = settings};
  const auto begin = Clock::now();

  // Construction: every module declares its claim.
  scheduler::ResourceScheduler scheduler(options.inventory, workflow.plan, options.hooks);
  std::vector<std::unique_ptr<InferenceModule>> modules;
  for (const ModuleSetup& setup : workflow.modules) {
    modules.push_back(std::make_unique<InferenceModule>(setup, scheduler, settings.seed));
  }
  // Begin job: one plan for all modules, then each loads its model where the plan put it.
  report.plan = scheduler.make_plan();
  for (auto& module : modules) module->begin_job(options.load);
  report.begin_job_seconds = seconds_since(begin);

  // The job owns the TBB pool it runs on: T arena threads, besides this waiting thread.
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                        static_cast<std::size_t>(settings.threads) + 1);
  const double cpu_before = detail::process_cpu_seconds();
  const auto loop_start = Clock::now();
  {
    EventLoop loop(modules, settings, options.stop);
    const auto tick = [&] {
      report.peak_threads = std::max(report.peak_threads, detail::process_thread_count());
      if (options.progress) options.progress({loop.events_done(), settings.events, seconds_since(loop_start)});
    };
    loop.start();
    loop.wait(options.progress_interval, tick);
    tick();
    report.events_processed = loop.events_done();
    report.error = loop.first_error();
  }
  report.event_loop_seconds = seconds_since(loop_start);
  report.cpu_seconds = detail::process_cpu_seconds() - cpu_before;

  for (auto& module : modules) module->end_job();
  report.interrupted = options.stop != nullptr && options.stop->load() && report.events_processed < settings.events;
  report.events_per_second =
      report.event_loop_seconds > 0 ? static_cast<double>(report.events_processed) / report.event_loop_seconds : 0;
  report.cpu_efficiency = report.event_loop_seconds > 0
                              ? report.cpu_seconds / (report.event_loop_seconds * settings.threads)
                              : 0;
  report.peak_rss_bytes = detail::peak_rss_bytes();
  for (const auto& module : modules) report.modules.push_back(module->report(report.event_loop_seconds));
  return report;
}

}  // namespace hepinfer::framework
