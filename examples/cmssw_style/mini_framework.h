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
//                                S streams in a TBB arena of T threads (hepinfer's demo job's
//                                event loop, apps/job/event_loop.h, which mimics the framework's)
//
// A module type provides, like a CMSSW stream producer with GlobalCache and ExternalWork:
//   static std::unique_ptr<Cache> initializeGlobalCache(const ParameterSet&, Services&);
//   static void globalBeginJob(Cache*);    static void globalEndJob(Cache*);
//   Module(const ParameterSet&, const Cache*);  // one instance per stream
//   void acquire(const Event&, WaitingTaskWithArenaHolder);   void produce(Event&);
// A module without acquire() is a plain stream producer: produce() runs at once, on the stream's
// thread.
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hepinfer/core/tensor.h"
#include "hepinfer/scheduler/resource_scheduler.h"
#include "job/event_loop.h"

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
  WaitingTaskWithArenaHolder(hepinfer::framework::ExternalWork work, std::function<void()> produce)
      : work_(work), produce_(std::make_shared<std::function<void()>>(std::move(produce))) {}
  // Any thread: the framework runs produce() and the rest of the event in its arena.
  void done_waiting(std::exception_ptr error) const {
    work_.resume([produce = produce_, error] {
      if (error) std::rethrow_exception(error);
      (*produce)();
      return true;
    });
  }

 private:
  hepinfer::framework::ExternalWork work_;
  std::shared_ptr<std::function<void()>> produce_;
};

// Runs one module type on `events` events with `streams` stream instances in an arena of
// `threads` threads. Returns the events, with their products, in event order; rethrows the first
// error a module threw (no event is started after it).
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
  hepinfer::framework::EventLoop loop({.events = events, .streams = streams, .threads = threads});
  loop.run([&](std::int64_t number, int stream) {
    auto event = std::make_shared<Event>(make_event(number));
    Module* module = instances[static_cast<std::size_t>(stream)].get();
    if constexpr (!requires { &Module::acquire; }) {
      // A plain stream producer: produce() runs now, on this thread.
      module->produce(*event);
      done[static_cast<std::size_t>(event->number)] = std::move(*event);
      return true;
    } else {
      const WaitingTaskWithArenaHolder holder(loop.start_external_work(stream), [&done, module, event] {
        module->produce(*event);
        done[static_cast<std::size_t>(event->number)] = std::move(*event);
      });
      try {
        module->acquire(*event, holder);
      } catch (...) {
        holder.done_waiting(std::current_exception());
      }
      return false;  // acquire handed the event to external work
    }
  });
  Module::globalEndJob(cache.get());
  if (const std::exception_ptr error = loop.first_error()) std::rethrow_exception(error);
  return done;
}

}  // namespace mini
