#pragma once
// The one owner of TensorFlow's process-wide state in hepinfer: log level, the session options
// that size TF's global pools and fix its GPU settings (from the device plan), and the pools and
// TBB bookkeeping every model's runs share.

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "hepinfer/core/model.h"
#include "hepinfer/tensorflow/device_plan.h"
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
  // Applies `level` now and whenever the runtime re-applies its options (the first session).
  void set_log_level(LogLevel level);

  struct SessionSetup {
    tensorflow::SessionOptions options;
    std::string device;  // what the session's nodes are pinned to; empty: TF's default placement
  };
  // Called before every hepinfer session is created, for the model at `model_path` with its
  // module's placement (null: none). The first call freezes the runtime options and, without a
  // plan, TF's default GPU settings. Throws FailedPreconditionError while a plan is awaited, or
  // for a GPU placement when no plan was applied.
  SessionSetup prepare_session(const std::string& model_path, const Placement* placement,
                               std::size_t gpu_index);

  void await_device_plan();
  void apply_gpu_settings(GpuSettings settings);

  // The pools a run in `mode` hands to TensorFlow. `inline_pool` and `tbb_pool` live on the
  // caller's stack for the run; tensorflow-mode pools are created on first use and shared.
  tsl::thread::ThreadPoolOptions pools_for(ThreadingMode mode, InlineThreadPool& inline_pool,
                                           std::unique_ptr<TbbThreadPool>& tbb_pool);

 private:
  RuntimeState() = default;
  void create_tensorflow_pools_locked();
  void check_plan_can_change_locked(const char* what) const;

  mutable std::mutex mutex_;
  RuntimeOptions options_;
  bool frozen_ = false;
  enum class PlanState { kNone, kAwaited, kApplied } plan_state_ = PlanState::kNone;
  std::optional<GpuSettings> gpu_settings_;
  std::string first_session_model_;  // empty until a session exists
  std::once_flag tensorflow_pools_created_;
  std::unique_ptr<tsl::thread::ThreadPool> inter_op_pool_, intra_op_pool_;
  std::unique_ptr<EigenPoolAdapter> inter_op_adapter_, intra_op_adapter_;
  tbb::task_arena fallback_arena_;  // for tbb-mode callers that are in no arena
};

}  // namespace hepinfer::tf
