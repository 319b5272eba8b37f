#include "job/job.h"

#include <algorithm>
#include <memory>

#include "hepinfer/core/error.h"
#include "job/event_loop.h"
#include "process_usage.h"

namespace hepinfer::framework {
namespace {

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

// The modules of one event, in order, from `next_module` on: synchronous ones on this thread; an
// asynchronous one takes the event to external work, and its completion runs the rest.
struct InFlight {
  SyntheticEvent event;
  std::size_t next_module = 0;
};

class ModuleChain {
 public:
  ModuleChain(std::vector<std::unique_ptr<InferenceModule>>& modules, EventLoop& loop, std::uint64_t seed)
      : modules_(modules), loop_(loop), seed_(seed) {}

  bool start(std::int64_t number, int stream) {
    return resume(std::make_shared<InFlight>(InFlight{make_synthetic_event(seed_, number)}), stream);
  }

 private:
  // True when every module has seen the event.
  bool resume(const std::shared_ptr<InFlight>& current, int stream) {
    while (current->next_module < modules_.size()) {
      const std::size_t index = current->next_module;
      InferenceModule& module = *modules_[index];
      if (!module.asynchronous()) {
        module.process(current->event);
        ++current->next_module;
        continue;
      }
      const ExternalWork work = loop_.start_external_work(stream);
      try {
        module.acquire(current->event, [this, work, current, index, stream](InferenceModule::Acquired acquired) {
          work.resume([this, current, index, stream, acquired = std::move(acquired)]() mutable {
            modules_[index]->produce(current->event, std::move(acquired));
            ++current->next_module;
            return resume(current, stream);
          });
        });
      } catch (...) {
        work.resume([error = std::current_exception()]() -> bool { std::rethrow_exception(error); });
      }
      return false;  // this thread is free; the completion continues the event
    }
    return true;
  }

  std::vector<std::unique_ptr<InferenceModule>>& modules_;
  EventLoop& loop_;
  const std::uint64_t seed_;
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

  const double cpu_before = detail::process_cpu_seconds();
  const auto loop_start = Clock::now();
  {
    EventLoop loop({.events = settings.events, .streams = settings.streams, .threads = settings.threads}, options.stop);
    ModuleChain chain(modules, loop, settings.seed);
    const auto tick = [&] {
      report.peak_threads = std::max(report.peak_threads, detail::process_thread_count());
      if (options.progress) options.progress({loop.events_done(), settings.events, seconds_since(loop_start)});
    };
    loop.run([&chain](std::int64_t number, int stream) { return chain.start(number, stream); },
             options.progress_interval, tick);
    report.events_processed = loop.events_done();
    if (const std::exception_ptr error = loop.first_error()) report.error = describe(error);
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
