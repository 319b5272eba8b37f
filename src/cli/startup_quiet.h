#pragma once
// Keeps the libraries' chatter off the CLI's stderr unless --verbose is on the command line:
// TensorFlow's load-time lines ("oneDNN custom operations are on", absl's "All log messages
// before absl::InitializeLog()"), and the PJRT plugins' logs (TF_CPP_MIN_LOG_LEVEL, which the
// user may still set).

namespace hepinfer::cli {

// True if the command line asks to see the libraries' logs (--verbose).
bool verbose_requested();

// Gives the CLI its stderr back; called first thing in main, before anything can fail.
void end_quiet_startup();

}  // namespace hepinfer::cli
