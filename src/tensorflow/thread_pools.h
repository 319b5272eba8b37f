#pragma once
// The thread pools hepinfer hands to TensorFlow for each run, one kind per ThreadingMode.

#include <functional>
#include <list>
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

// Keeps kTbb runs deadlock-free. TensorFlow blocks inside a run (Eigen's barriers, the executor's
// completion wait) without helping TBB, so a closure handed to the arena is only safe while some
// arena thread is outside TensorFlow to pick it up. The tracker counts threads inside TensorFlow
// work; once they could fill the arena, closures run on the scheduling thread instead, and a thread
// that fills the arena first runs every handed-off closure nobody has started. One tracker serves
// the process, which assumes, like the frameworks, that TF work comes from one arena.
class TbbWorkTracker {
 public:
  // Marks the current thread as inside TensorFlow work for its lifetime.
  class Activity {
   public:
    Activity(TbbWorkTracker& tracker, int concurrency);
    ~Activity();
    Activity(const Activity&) = delete;
    Activity& operator=(const Activity&) = delete;

   private:
    TbbWorkTracker& tracker_;
  };

  // Runs `closure` as a task in `arena`, or right here when that could starve it.
  void schedule(tbb::task_arena& arena, int concurrency, std::function<void()> closure);

 private:
  struct Pending {
    std::function<void()> closure;
    bool claimed = false;
    std::list<std::shared_ptr<Pending>>::iterator position;
  };
  bool claim(Pending& pending);

  std::mutex mutex_;
  int active_ = 0;  // threads inside TensorFlow work, guarded by mutex_
  std::list<std::shared_ptr<Pending>> pending_;
};

// kTbb: TensorFlow's closures become tasks in the calling thread's TBB arena (or `fallback` when
// the caller is in none), sharing the framework's threads.
class TbbThreadPool final : public tsl::thread::ThreadPoolInterface {
 public:
  TbbThreadPool(TbbWorkTracker& tracker, tbb::task_arena& fallback);
  void Schedule(std::function<void()> closure) override;
  int NumThreads() const override { return concurrency_; }
  int CurrentThreadId() const override { return -1; }
  int concurrency() const { return concurrency_; }

 private:
  TbbWorkTracker& tracker_;
  tbb::task_arena attached_;
  tbb::task_arena* arena_;
  int concurrency_;
};

// kTensorFlow: a pool of TensorFlow's own kind, owned by hepinfer, behind the interface runs take.
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
