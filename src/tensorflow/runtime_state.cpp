#include "runtime_state.h"

#include <thread>

#include "absl/log/globals.h"
#include "hepinfer/core/error.h"
#include "tensorflow/core/platform/env.h"

namespace hepinfer::tf {
namespace {

absl::LogSeverityAtLeast severity_of(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo: return absl::LogSeverityAtLeast::kInfo;
    case LogLevel::kWarning: return absl::LogSeverityAtLeast::kWarning;
    case LogLevel::kError: return absl::LogSeverityAtLeast::kError;
    case LogLevel::kFatal: return absl::LogSeverityAtLeast::kFatal;
  }
  return absl::LogSeverityAtLeast::kWarning;
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
  set_log_level(options.log_level);
}

RuntimeOptions RuntimeState::options() const {
  std::lock_guard lock(mutex_);
  return options_;
}

tensorflow::SessionOptions RuntimeState::session_options() {
  {
    std::lock_guard lock(mutex_);
    if (!frozen_) {
      frozen_ = true;
      set_log_level(options_.log_level);
      fallback_arena_.initialize();
    }
  }
  tensorflow::SessionOptions options;
  // TF creates its global inter-op and intra-op pools with the first session of the process and
  // never lets go of them. hepinfer hands every run its own pools, so TF's are kept to the
  // minimum it accepts: one thread each, idle.
  options.config.set_inter_op_parallelism_threads(1);
  options.config.set_intra_op_parallelism_threads(1);
  options.config.set_use_per_session_threads(false);
  options.config.set_allow_soft_placement(true);
  // Inline the function calls SavedModels are made of (StatefulPartitionedCall), so that a run is
  // one flat executor rather than an executor per call; numerics are unchanged.
  options.config.mutable_graph_options()->mutable_optimizer_options()->set_do_function_inlining(true);
  return options;
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
    case ThreadingMode::kTensorFlow: {
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

RuntimeOptions runtime_options() { return RuntimeState::instance().options(); }

void set_log_level(LogLevel level) {
  absl::SetMinLogLevel(severity_of(level));
  absl::SetStderrThreshold(severity_of(level));
}

}  // namespace hepinfer::tf
