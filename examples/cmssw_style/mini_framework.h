#pragma once
// A minimal stand-in for the parts of a CMSSW-like framework that a hepinfer module touches, so
// that examples/cmssw_style compiles and runs here. It mimics the shapes, not the code:
//
//   ParameterSet                 a module's configuration
//   Event                        one event's products, by label
//   WaitingTaskWithArenaHolder   what acquire() gets: call done_waiting() when the external
//                                work is over, from any thread; the framework then calls
//                                produce() in its TBB arena
//   Service                      process-wide objects (here: hepinfer's ResourceScheduler)
//   Process                      builds modules, calls the life-cycle hooks, runs events on
//                                S streams in a TBB arena of T threads
//
// A module type provides, like a CMSSW stream producer with GlobalCache and ExternalWork:
//   static std::unique_ptr<Cache> initializeGlobalCache(const ParameterSet&, Services&);
//   static void globalBeginJob(Cache*);    static void globalEndJob(Cache*);
//   Module(const ParameterSet&, const Cache*);  // one instance per stream
//   void acquire(const Event&, WaitingTaskWithArenaHolder);   void produce(Event&);
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hepinfer/core/tensor.h"
#include "hepinfer/scheduler/resource_scheduler.h"
#include "tbb/global_control.h"
#include "tbb/task_arena.h"

namespace mini {

using ParameterSet = std::map<std::string, std::string>;

struct Event {
  std::int64_t number = 0;
  std::map<std::string, hepinfer::Tensor> products;
};

// hepinfer's process-wide scheduler, as a framework service: modules claim in
// initializeGlobalCache, the framework plans before globalBeginJob.
struct Services {
  hepinfer::scheduler::ResourceScheduler& scheduler;
};

class WaitingTaskWithArenaHolder {
 public:
  WaitingTaskWithArenaHolder(tbb::task_arena& arena, std::function<void(std::exception_ptr)> resume)
      : arena_(&arena), resume_(std::make_shared<std::function<void(std::exception_ptr)>>(std::move(resume))) {}
  // Any thread: enqueues the continuation (produce and the rest of the event) into the arena.
  void done_waiting(std::exception_ptr error) const {
    arena_->enqueue([resume = resume_, error] { (*resume)(error); });
  }

 private:
  tbb::task_arena* arena_;
  std::shared_ptr<std::function<void(std::exception_ptr)>> resume_;
};

// Runs one module type on `events` events with `streams` stream instances in an arena of
// `threads` threads. Returns the events, with their products, in event order.
template <class Module, class Make>
std::vector<Event> run_process(const ParameterSet& parameters, hepinfer::scheduler::ResourceScheduler& scheduler,
                               int streams, int threads, std::int64_t events, Make make_event) {
  Services services{scheduler};
  auto cache = Module::initializeGlobalCache(parameters, services);  // construction: claims
  std::vector<std::unique_ptr<Module>> instances;
  for (int s = 0; s < streams; ++s) instances.push_back(std::make_unique<Module>(parameters, cache.get()));
  scheduler.make_plan();  // begin job: one plan for the whole process
  Module::globalBeginJob(cache.get());

  std::vector<Event> done(static_cast<std::size_t>(events));
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                        static_cast<std::size_t>(threads) + 1);
  tbb::task_arena arena(threads, 0);
  std::atomic<std::int64_t> next{0};
  std::atomic<int> streams_running{streams};
  std::mutex mutex;
  std::condition_variable finished;
  std::exception_ptr first_error;  // guarded by mutex
  std::atomic<bool> failed{false};

  // One stream: acquire an event, let the external work finish, produce, take the next event.
  std::function<void(int)> next_event = [&](int stream) {
    const std::int64_t number = next.fetch_add(1);
    if (number >= events || failed.load()) {
      const std::lock_guard lock(mutex);
      if (--streams_running == 0) finished.notify_all();
      return;
    }
    auto event = std::make_shared<Event>(make_event(number));
    Module* module = instances[static_cast<std::size_t>(stream)].get();
    const WaitingTaskWithArenaHolder holder(arena, [&, module, event, stream](std::exception_ptr error) {
      if (!error) {
        try {
          module->produce(*event);
        } catch (...) {
          error = std::current_exception();
        }
      }
      if (error) {
        const std::lock_guard lock(mutex);
        if (!first_error) first_error = error;
        failed.store(true);
      }
      done[static_cast<std::size_t>(event->number)] = std::move(*event);
      next_event(stream);
    });
    try {
      module->acquire(*event, holder);
    } catch (...) {
      holder.done_waiting(std::current_exception());
    }
  };
  for (int s = 0; s < streams; ++s) arena.enqueue([&next_event, s] { next_event(s); });
  {
    std::unique_lock lock(mutex);
    finished.wait(lock, [&] { return streams_running.load() == 0; });
  }
  Module::globalEndJob(cache.get());
  if (first_error) std::rethrow_exception(first_error);
  return done;
}

}  // namespace mini
