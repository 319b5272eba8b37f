#pragma once
// TensorFlow's process-wide settings. TF keeps them in globals fixed by the first session of the
// process; hepinfer sets them here, once, before its first session, and nowhere else.

namespace hepinfer::tf {

enum class LogLevel { kInfo, kWarning, kError, kFatal };

struct RuntimeOptions {
  LogLevel log_level = LogLevel::kWarning;
  // Sizes of the pools that ThreadingMode::kTensorFlow runs use (shared by all models, created on
  // first use); 0 means one thread per core.
  int tensorflow_inter_op_threads = 0;
  int tensorflow_intra_op_threads = 0;
};

// Applies `options`. Pool sizes are fixed once the first model has been loaded or the pools
// created: changing them later throws InvalidArgumentError. Thread-safe.
void configure_runtime(const RuntimeOptions& options);
RuntimeOptions runtime_options();

// Messages below `level` from TensorFlow's C++ runtime are dropped. Thread-safe, may be called
// at any time (unlike setting TF_CPP_MIN_LOG_LEVEL with setenv).
void set_log_level(LogLevel level);

}  // namespace hepinfer::tf
