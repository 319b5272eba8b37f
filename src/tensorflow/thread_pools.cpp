#include "thread_pools.h"

namespace hepinfer::tf {

TbbWorkTracker::Activity::Activity(TbbWorkTracker& tracker, int concurrency) : tracker_(tracker) {
  std::list<std::shared_ptr<Pending>> orphans;
  {
    std::lock_guard lock(tracker_.mutex_);
    if (++tracker_.active_ >= concurrency) {
      // Every arena thread may now be inside TensorFlow: nobody is left to start these.
      for (auto& pending : tracker_.pending_) pending->claimed = true;
      orphans.swap(tracker_.pending_);
    }
  }
  for (auto& pending : orphans) pending->closure();
}

TbbWorkTracker::Activity::~Activity() {
  std::lock_guard lock(tracker_.mutex_);
  --tracker_.active_;
}

bool TbbWorkTracker::claim(Pending& pending) {
  std::lock_guard lock(mutex_);
  if (pending.claimed) return false;
  pending.claimed = true;
  pending_.erase(pending.position);
  return true;
}

void TbbWorkTracker::schedule(tbb::task_arena& arena, int concurrency, std::function<void()> closure) {
  auto pending = std::make_shared<Pending>();
  {
    std::lock_guard lock(mutex_);
    if (active_ >= concurrency) {
      pending.reset();
    } else {
      pending->closure = std::move(closure);
      pending->position = pending_.insert(pending_.end(), pending);
    }
  }
  if (!pending) {
    closure();
    return;
  }
  arena.enqueue([this, pending, concurrency] {
    if (!claim(*pending)) return;  // already run by a thread that filled the arena
    const Activity activity(*this, concurrency);
    pending->closure();
  });
}

TbbThreadPool::TbbThreadPool(TbbWorkTracker& tracker, tbb::task_arena& fallback)
    : tracker_(tracker), attached_(tbb::task_arena::attach()) {
  arena_ = attached_.is_active() ? &attached_ : &fallback;
  concurrency_ = arena_->max_concurrency();
}

void TbbThreadPool::Schedule(std::function<void()> closure) {
  tracker_.schedule(*arena_, concurrency_, std::move(closure));
}

}  // namespace hepinfer::tf
