#pragma once
// A framework-shaped event loop: S streams process numbered events concurrently in a TBB arena of
// T threads. A stream takes the next event number and runs the event's task on an arena thread.
// The task either finishes the event there, or hands it to external work (a framework's
// ExternalWork / acquire-produce pattern): the thread is then free, and the external work's
// completion resumes the rest of the event in the arena, from whatever thread it runs on. The
// demo job (job.h) and the CMSSW-style example (examples/cmssw_style) both run on it.
//
// While it exists, the loop holds a tbb::global_control capping TBB at T threads plus the waiting
// caller: the job owns the pool it runs on. Nothing else is started.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>

namespace hepinfer::framework {

class EventLoop;

// One event's hand-off to external work. Call resume() exactly once, from any thread, with the
// rest of the event; until then the loop counts the event as in flight.
class ExternalWork {
 public:
  // `rest` runs in the arena; it returns true when the event is complete, false when it handed
  // the event to external work again (through another ExternalWork). If it throws, the loop
  // records the error and stops taking new events.
  void resume(std::function<bool()> rest) const;

 private:
  friend class EventLoop;
  ExternalWork(EventLoop* loop, int stream) : loop_(loop), stream_(stream) {}
  EventLoop* loop_;
  int stream_;
};

struct EventLoopSettings {
  std::int64_t events = 0;
  int streams = 1;
  int threads = 1;
};

class EventLoop {
 public:
  // The task of event `number` on `stream`, on an arena thread: returns true when the event is
  // complete, false when it called start_external_work() and handed the event over.
  using EventTask = std::function<bool(std::int64_t number, int stream)>;

  // Throws InvalidArgumentError unless streams >= 1, threads >= 1 and events >= 0. `stop`, when
  // set, makes streams take no further event (events in flight complete).
  EventLoop(EventLoopSettings settings, const std::atomic<bool>* stop = nullptr);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs every event and returns when none is in flight; calls `tick` on this thread every
  // `interval` meanwhile and once at the end. Call once.
  void run(const EventTask& task, std::chrono::milliseconds interval = std::chrono::milliseconds(200),
           const std::function<void()>& tick = {});

  // For the task: the event on `stream` goes to external work.
  ExternalWork start_external_work(int stream);

  std::int64_t events_done() const;
  // The first error a task or a resumed rest threw; null: none.
  std::exception_ptr first_error() const;

 private:
  friend class ExternalWork;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hepinfer::framework
