#pragma once
// Process-wide TensorFlow settings. TF keeps these in globals; hepinfer changes them only here.

namespace hepinfer::tf {

enum class LogLevel { kInfo, kWarning, kError, kFatal };

// Messages below `level` from TensorFlow's C++ runtime are dropped. Thread-safe; unlike
// setting TF_CPP_MIN_LOG_LEVEL with setenv, it may be called at any time.
void set_log_level(LogLevel level);

}  // namespace hepinfer::tf
