#include "thread_pools.h"

namespace hepinfer::tf {

TbbThreadPool::TbbThreadPool(tbb::task_arena& fallback) {
  tbb::task_arena attached(tbb::task_arena::attach{});
  tbb::task_arena& arena = attached.is_active() ? attached : fallback;
  concurrency_ = arena.max_concurrency();
  for (int helper = 1; helper < concurrency_; ++helper) {
    arena.enqueue([state = state_] { help(state); });
  }
}

TbbThreadPool::~TbbThreadPool() {
  std::lock_guard lock(state_->mutex);
  state_->finished = true;
  state_->wake.notify_all();
}

void TbbThreadPool::help(const std::shared_ptr<RunState>& state) {
  std::unique_lock lock(state->mutex);
  while (!state->finished) {
    ++state->idle_helpers;
    state->wake.wait(lock, [&] { return state->finished || !state->handed_over.empty(); });
    if (state->handed_over.empty()) break;  // finished; nothing was reserved for this helper
    auto closure = std::move(state->handed_over.front());
    state->handed_over.pop_front();
    lock.unlock();
    closure();
    lock.lock();
  }
}

void TbbThreadPool::Schedule(std::function<void()> closure) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->idle_helpers > 0) {
      --state_->idle_helpers;  // reserved: that helper takes this closure before it can leave
      state_->handed_over.push_back(std::move(closure));
      state_->wake.notify_one();
      return;
    }
  }
  closure();
}

}  // namespace hepinfer::tf
