#pragma once
// The thread pools hepinfer hands to TensorFlow for each run, one kind per ThreadingMode.

#include <functional>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "oneapi/tbb/task_arena.h"
#include "xla/tsl/platform/threadpool_interface.h"

namespace hepinfer::tf {

// kInline: every closure runs at once on the thread that schedules it, so a run never leaves its
// calling thread. One thread means Eigen and oneDNN do not split work at all.
class InlineThreadPool final : public tsl::thread::ThreadPoolInterface {
 public:
  void Schedule(std::function<void()> closure) override { closure(); }
  int NumThreads() const override { return 1; }
  int CurrentThreadId() const override { return -1; }
};

// kTbb: TensorFlow's closures run on the calling thread's TBB arena (or `fallback` when the
// caller is in none), alongside the framework's work.
//
// TensorFlow blocks inside a run (Eigen's barriers, the executor's completion wait) without
// helping TBB, and TBB does not promise to wake a worker for a task enqueued by a thread that then
// blocks outside TBB. So closures are never left in TBB's queues. Instead each run enqueues helper
// tasks; a helper that a TBB thread starts joins the run and waits for closures, and a closure is
// handed over only to a helper that is waiting idle, which it then reserves. With no idle helper
// (every TBB thread busy, or inside runs of its own) the closure runs on the scheduling thread. A
// handed-over closure therefore always has a thread that will run it, and helpers leave when their
// run ends: no deadlock, whatever the arena's threads are doing.
class TbbThreadPool final : public tsl::thread::ThreadPoolInterface {
 public:
  explicit TbbThreadPool(tbb::task_arena& fallback);
  ~TbbThreadPool() override;  // releases the run's helpers
  TbbThreadPool(const TbbThreadPool&) = delete;
  TbbThreadPool& operator=(const TbbThreadPool&) = delete;

  void Schedule(std::function<void()> closure) override;
  int NumThreads() const override { return concurrency_; }
  int CurrentThreadId() const override { return -1; }

 private:
  struct RunState {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<void()>> handed_over;
    int idle_helpers = 0;
    bool finished = false;
  };
  static void help(const std::shared_ptr<RunState>& state);

  std::shared_ptr<RunState> state_ = std::make_shared<RunState>();
  int concurrency_ = 1;
};

// kBackendPools: a pool of TensorFlow's own kind, owned by hepinfer, behind the interface runs take.
class EigenPoolAdapter final : public tsl::thread::ThreadPoolInterface {
 public:
  explicit EigenPoolAdapter(Eigen::ThreadPoolInterface* pool) : pool_(pool) {}
  void Schedule(std::function<void()> closure) override { pool_->Schedule(std::move(closure)); }
  void ScheduleWithHint(std::function<void()> closure, int start, int limit) override {
    pool_->ScheduleWithHint(std::move(closure), start, limit);
  }
  void Cancel() override { pool_->Cancel(); }
  int NumThreads() const override { return pool_->NumThreads(); }
  int CurrentThreadId() const override { return pool_->CurrentThreadId(); }

 private:
  Eigen::ThreadPoolInterface* pool_;
};

}  // namespace hepinfer::tf
