#pragma once
// TensorFlow's process-wide settings other than the GPU ones: log level, the sizes of TF's own
// pools, the oneDNN state. TF keeps them in globals fixed by the first session of the process.
// These and the GPU settings derived from the device plan (device_plan.h) have one owner inside
// hepinfer (src/tensorflow/runtime_state.h), which applies them before the first session.

namespace hepinfer::tf {

// kSilent drops every message; TF still aborts on a fatal one.
enum class LogLevel { kInfo, kWarning, kError, kFatal, kSilent };

struct RuntimeOptions {
  LogLevel log_level = LogLevel::kWarning;
  // Sizes of the pools that ThreadingMode::kBackendPools runs use (shared by all models, created on
  // first use); 0 means one thread per core.
  int tensorflow_inter_op_threads = 0;
  int tensorflow_intra_op_threads = 0;
};

// Applies `options`. Pool sizes are fixed once the first model has been loaded or the pools
// created: changing them later throws InvalidArgumentError. Thread-safe.
void configure_runtime(const RuntimeOptions& options);

// Messages below `level` from TensorFlow's C++ runtime are dropped. Thread-safe, may be called
// at any time (unlike setting TF_CPP_MIN_LOG_LEVEL with setenv). TensorFlow logs a few lines
// while its libraries are loaded, before any code of the program runs (on CPUs with AVX-512:
// "oneDNN custom operations are on"); TF_CPP_MIN_LOG_LEVEL does not stop them. A program that
// must not show them redirects stderr before the libraries load, as the hepinfer CLI does
// (src/cli/startup_quiet.cpp).
void set_log_level(LogLevel level);

// Whether TensorFlow's oneDNN custom operations are on in this process. TF decides once, from
// the CPU (on by default where it has AVX-512) and TF_ENABLE_ONEDNN_OPTS, and offers no way to
// change it afterwards. hepinfer keeps TF's choice and works around oneDNN's defects: an empty
// batch never reaches a kernel (docs/portability.md).
bool onednn_enabled();

}  // namespace hepinfer::tf
