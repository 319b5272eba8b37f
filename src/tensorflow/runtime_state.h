#pragma once
// The one owner of TensorFlow's process-wide state in hepinfer: log level, the session options
// that size TF's global pools, and the pools and TBB bookkeeping every model's runs share.

#include <memory>
#include <mutex>

#include "hepinfer/core/model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "tensorflow/core/public/session_options.h"
#include "thread_pools.h"
#include "xla/tsl/platform/threadpool.h"
#include "xla/tsl/platform/threadpool_options.h"

namespace hepinfer::tf {

class RuntimeState {
 public:
  static RuntimeState& instance();

  void configure(const RuntimeOptions& options);
  RuntimeOptions options() const;

  // Options for every hepinfer session. Called before each session is created; the first call
  // applies the runtime options and freezes them.
  tensorflow::SessionOptions session_options();

  // The pools a run in `mode` hands to TensorFlow. `inline_pool` and `tbb_pool` live on the
  // caller's stack for the run; tensorflow-mode pools are created on first use and shared.
  tsl::thread::ThreadPoolOptions pools_for(ThreadingMode mode, InlineThreadPool& inline_pool,
                                           std::unique_ptr<TbbThreadPool>& tbb_pool);

 private:
  RuntimeState() = default;
  void create_tensorflow_pools_locked();

  mutable std::mutex mutex_;
  RuntimeOptions options_;
  bool frozen_ = false;
  std::once_flag tensorflow_pools_created_;
  std::unique_ptr<tsl::thread::ThreadPool> inter_op_pool_, intra_op_pool_;
  std::unique_ptr<EigenPoolAdapter> inter_op_adapter_, intra_op_adapter_;
  tbb::task_arena fallback_arena_;  // for tbb-mode callers that are in no arena
};

}  // namespace hepinfer::tf
