#pragma once
// Keeps the libraries' load-time chatter (TensorFlow logs "oneDNN custom operations are on" and
// absl's "All log messages before absl::InitializeLog()" while it is being loaded) off the CLI's
// stderr, unless --verbose is on the command line.

namespace hepinfer::cli {

// True if the command line asks to see the libraries' logs (--verbose).
bool verbose_requested();

// Gives the CLI its stderr back; called first thing in main, before anything can fail.
void end_quiet_startup();

}  // namespace hepinfer::cli
