#include "runtime_state.h"

#include <thread>

#include "absl/log/globals.h"
#include "hepinfer/core/error.h"
#include "session_config.h"
#include "tensorflow/core/platform/env.h"
#include "tensorflow/core/util/port.h"

namespace hepinfer::tf {
namespace {

absl::LogSeverityAtLeast severity_of(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo: return absl::LogSeverityAtLeast::kInfo;
    case LogLevel::kWarning: return absl::LogSeverityAtLeast::kWarning;
    case LogLevel::kError: return absl::LogSeverityAtLeast::kError;
    case LogLevel::kFatal: return absl::LogSeverityAtLeast::kFatal;
    case LogLevel::kSilent: return absl::LogSeverityAtLeast::kInfinity;
  }
  return absl::LogSeverityAtLeast::kWarning;
}

void apply_log_level(LogLevel level) {
  absl::SetMinLogLevel(severity_of(level));
  absl::SetStderrThreshold(severity_of(level));
}

int threads_or_cores(int requested) {
  return requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

RuntimeState& RuntimeState::instance() {
  // Never destroyed: TensorFlow's own globals outlive main(), and pool threads must not be joined
  // during static destruction.
  static RuntimeState* const state = new RuntimeState();
  return *state;
}

void RuntimeState::configure(const RuntimeOptions& options) {
  std::lock_guard lock(mutex_);
  if (frozen_ && (options.tensorflow_inter_op_threads != options_.tensorflow_inter_op_threads ||
                  options.tensorflow_intra_op_threads != options_.tensorflow_intra_op_threads)) {
    throw InvalidArgumentError(
        "TensorFlow pool sizes are fixed once the first model is loaded; call configure_runtime before "
        "loading any model");
  }
  options_ = options;
  apply_log_level(options.log_level);
}

RuntimeOptions RuntimeState::options() const {
  std::lock_guard lock(mutex_);
  return options_;
}

RuntimeState::SessionSetup RuntimeState::prepare_session(const std::string& model_path,
                                                       const Placement* placement,
                                                       std::size_t gpu_index) {
  std::lock_guard lock(mutex_);
  const std::string module = placement != nullptr ? " (module '" + placement->module + "')" : "";
  if (plan_state_ == PlanState::kAwaited) {
    throw FailedPreconditionError("cannot load model '" + model_path + "'" + module +
                                  ": modules have claimed devices but the device plan is not final; TF would fix "
                                  "its GPU settings before the plan. Load models at begin job, after "
                                  "ResourceScheduler::make_plan");
  }
  SessionSetup setup;
  if (plan_state_ == PlanState::kApplied) {
    // Once there is a plan it owns the GPUs: a model loaded without an placement runs on CPU.
    setup.device = placement != nullptr ? gpu_settings_->device_for(*placement, gpu_index) : "/device:CPU:0";
  } else if (placement != nullptr) {
    if (!placement->on_cpu()) {
      throw FailedPreconditionError("cannot load model '" + model_path + "'" + module +
                                    " on its GPU: no device plan was applied to TensorFlow (create the "
                                    "ResourceScheduler with tf::runtime_hooks(), or call tf::apply_device_plan)");
    }
    setup.device = "/device:CPU:0";
  }
  if (!frozen_) {
    frozen_ = true;
    apply_log_level(options_.log_level);
    fallback_arena_.initialize();
  }
  if (first_session_model_.empty()) first_session_model_ = model_path;
  setup.options.config = make_session_config(gpu_settings_ ? &*gpu_settings_ : nullptr, setup.device);
  return setup;
}

void RuntimeState::check_plan_can_change_locked(const char* what) const {
  if (plan_state_ == PlanState::kApplied) {
    throw FailedPreconditionError(std::string("cannot ") + what +
                                  ": a device plan was applied already; TensorFlow's GPU settings are "
                                  "process-wide, so a process has one ResourceScheduler and one plan");
  }
  if (!first_session_model_.empty() && plan_state_ == PlanState::kNone) {
    throw FailedPreconditionError(std::string("cannot ") + what + ": model '" + first_session_model_ +
                                  "' was loaded before any module claimed devices, and its session fixed "
                                  "TensorFlow's GPU settings to TF's defaults. Make claims before loading models");
  }
}

void RuntimeState::await_device_plan() {
  std::lock_guard lock(mutex_);
  if (plan_state_ == PlanState::kAwaited) return;
  check_plan_can_change_locked("wait for a device plan");
  plan_state_ = PlanState::kAwaited;
}

void RuntimeState::apply_gpu_settings(GpuSettings settings) {
  std::lock_guard lock(mutex_);
  check_plan_can_change_locked("apply the device plan");
  gpu_settings_ = std::move(settings);
  plan_state_ = PlanState::kApplied;
}

void RuntimeState::create_tensorflow_pools_locked() {
  frozen_ = true;
  inter_op_pool_ = std::make_unique<tsl::thread::ThreadPool>(
      tensorflow::Env::Default(), "hepinf_inter", threads_or_cores(options_.tensorflow_inter_op_threads));
  intra_op_pool_ = std::make_unique<tsl::thread::ThreadPool>(
      tensorflow::Env::Default(), "hepinf_intra", threads_or_cores(options_.tensorflow_intra_op_threads));
  inter_op_adapter_ = std::make_unique<EigenPoolAdapter>(inter_op_pool_->AsEigenThreadPool());
  intra_op_adapter_ = std::make_unique<EigenPoolAdapter>(intra_op_pool_->AsEigenThreadPool());
}

tsl::thread::ThreadPoolOptions RuntimeState::pools_for(ThreadingMode mode, InlineThreadPool& inline_pool,
                                                       std::unique_ptr<TbbThreadPool>& tbb_pool) {
  tsl::thread::ThreadPoolOptions pools;
  switch (mode) {
    case ThreadingMode::kInline:
      pools.inter_op_threadpool = &inline_pool;
      pools.intra_op_threadpool = &inline_pool;
      break;
    case ThreadingMode::kTbb:
      tbb_pool = std::make_unique<TbbThreadPool>(fallback_arena_);
      pools.inter_op_threadpool = tbb_pool.get();
      pools.intra_op_threadpool = tbb_pool.get();
      break;
    case ThreadingMode::kBackendPools: {
      std::call_once(tensorflow_pools_created_, [this] {
        std::lock_guard lock(mutex_);
        create_tensorflow_pools_locked();
      });
      pools.inter_op_threadpool = inter_op_adapter_.get();
      pools.intra_op_threadpool = intra_op_adapter_.get();
      break;
    }
  }
  return pools;
}

void configure_runtime(const RuntimeOptions& options) { RuntimeState::instance().configure(options); }


void RuntimeState::set_log_level(LogLevel level) {
  std::lock_guard lock(mutex_);
  options_.log_level = level;  // the level the first session re-applies
  apply_log_level(level);
}

void set_log_level(LogLevel level) { RuntimeState::instance().set_log_level(level); }

bool onednn_enabled() { return tensorflow::IsMklEnabled(); }

}  // namespace hepinfer::tf
