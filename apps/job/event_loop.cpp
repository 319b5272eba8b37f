#include "job/event_loop.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

#include "hepinfer/core/error.h"
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

}  // namespace

// The streams' work as a chain of arena tasks per stream. A stream's task runs events until one
// goes to external work; that work's completion schedules the rest of the event.
struct EventLoop::State {
  State(EventLoopSettings loop_settings, const std::atomic<bool>* external_stop)
      : settings(loop_settings),
        stop(external_stop),
        parallelism(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(loop_settings.threads) + 1),
        arena(loop_settings.threads, 0) {}

  // The arena's task carries no data: it runs whichever piece of work is first in `ready`.
  // Handing work over through a mutex (not through the task's closure) keeps the hand-off
  // visible to ThreadSanitizer, which cannot see the synchronisation inside TBB's library.
  void schedule(std::function<void()> work) {
    {
      const std::lock_guard lock(mutex);
      ++outstanding;
      ready.push_back(std::move(work));
    }
    handed_over(this);
    arena.enqueue(RunNext{this});
  }

  // What the arena runs. Its one read, of its pointer from the task object TBB built on the
  // enqueuing thread, is left uninstrumented; taken_over() then gives TSan the happens-before
  // TBB provided, and run_next() and everything it calls is checked.
  struct RunNext {
    State* state;
    __attribute__((no_sanitize("thread"))) void operator()() const {
      taken_over(state);
      state->run_next();
    }
  };

  [[gnu::noinline]] void run_next() {
    std::function<void()> work;
    {
      const std::lock_guard lock(mutex);
      work = std::move(ready.front());
      ready.pop_front();
    }
    try {
      work();
    } catch (...) {
      record_error(std::current_exception());
    }
    finished_one();
  }

  // External work counts as outstanding until its continuation is scheduled.
  void add_outstanding() {
    const std::lock_guard lock(mutex);
    ++outstanding;
  }

  // Ends one unit of outstanding work. run() may return (and the loop be destroyed) as soon as it
  // sees zero, so nothing may touch the state after the last decrement but this locked section.
  void finished_one() {
    const std::lock_guard lock(mutex);
    if (--outstanding == 0) idle.notify_all();
  }

  void record_error(std::exception_ptr error) {
    const std::lock_guard lock(mutex);
    if (!first_error) first_error = error;
    failed.store(true);
  }

  // Runs events of `stream` on this thread until one goes to external work or none is left.
  void run_stream(int stream) {
    while (!failed.load() && (stop == nullptr || !stop->load())) {
      const std::int64_t number = next_number.fetch_add(1);
      if (number >= settings.events) return;
      if (!(*task)(number, stream)) return;  // the external work's completion continues the stream
      events_done.fetch_add(1);
    }
  }

  void wait(std::chrono::milliseconds interval, const std::function<void()>& tick) {
    std::unique_lock lock(mutex);
    while (!idle.wait_for(lock, interval, [this] { return outstanding == 0; })) {
      lock.unlock();
      if (tick) tick();
      lock.lock();
    }
  }

  const EventLoopSettings settings;
  const std::atomic<bool>* const stop;
  // The job owns the TBB pool it runs on: T arena threads besides the waiting caller. Created
  // before the arena and destroyed after it, so that TBB never resizes under a live arena.
  const tbb::global_control parallelism;
  tbb::task_arena arena;
  const EventTask* task = nullptr;
  std::atomic<std::int64_t> next_number{0}, events_done{0};
  std::atomic<bool> failed{false};
  mutable std::mutex mutex;
  std::condition_variable idle;
  int outstanding = 0;                      // guarded by mutex
  std::deque<std::function<void()>> ready;  // guarded by mutex
  std::exception_ptr first_error;           // guarded by mutex
};

void ExternalWork::resume(std::function<bool()> rest) const {
  EventLoop::State* state = loop_->state_.get();
  const int stream = stream_;
  // Schedule before ending the external work's count, so that the loop never looks idle between.
  state->schedule([state, stream, rest = std::move(rest)] {
    if (!rest()) return;
    state->events_done.fetch_add(1);
    state->run_stream(stream);
  });
  state->finished_one();
}

EventLoop::EventLoop(EventLoopSettings settings, const std::atomic<bool>* stop) {
  if (settings.streams < 1 || settings.threads < 1 || settings.events < 0) {
    throw InvalidArgumentError("an event loop needs streams >= 1, threads >= 1 and events >= 0, got " +
                               std::to_string(settings.streams) + ", " + std::to_string(settings.threads) + ", " +
                               std::to_string(settings.events));
  }
  state_ = std::make_unique<State>(settings, stop);
}

EventLoop::~EventLoop() = default;

void EventLoop::run(const EventTask& task, std::chrono::milliseconds interval, const std::function<void()>& tick) {
  state_->task = &task;
  for (int stream = 0; stream < state_->settings.streams; ++stream) {
    state_->schedule([state = state_.get(), stream] { state->run_stream(stream); });
  }
  state_->wait(interval, tick);
  if (tick) tick();
}

ExternalWork EventLoop::start_external_work(int stream) {
  state_->add_outstanding();
  return ExternalWork(this, stream);
}

std::int64_t EventLoop::events_done() const { return state_->events_done.load(); }

std::exception_ptr EventLoop::first_error() const {
  const std::lock_guard lock(state_->mutex);
  return state_->first_error;
}

}  // namespace hepinfer::framework
