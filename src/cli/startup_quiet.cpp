#include "startup_quiet.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string_view>

namespace hepinfer::cli {
namespace {

// Written once by the pre-initialiser, before any other code of the process runs and before
// any thread exists; read by main.
int saved_stderr = -1;
bool verbose = false;

void silence_stderr_until_main(int argc, char** argv, char** /*environment*/) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--verbose") verbose = true;
  }
  if (verbose) return;
  const int null_device = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_device < 0) return;  // nothing lost but quiet
  saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
  if (saved_stderr >= 0) dup2(null_device, STDERR_FILENO);
  close(null_device);
}

// An executable's .preinit_array runs before the initialisers of every shared library it links,
// TensorFlow's among them: the only point at which a program can act before TF's load-time logs.
[[gnu::used, gnu::section(".preinit_array")]] void (*const run_before_libraries)(int, char**, char**) =
    &silence_stderr_until_main;

}  // namespace

bool verbose_requested() { return verbose; }

void end_quiet_startup() {
  // PJRT plugins carry their own copy of absl's logging, with no API to quiet it; they read
  // TF_CPP_MIN_LOG_LEVEL when they are loaded, which is later. Set here, first thing in main,
  // while the process still has one thread (an environment set in .preinit_array does not
  // survive libc's start-up), unless the user set it.
  if (!verbose) setenv("TF_CPP_MIN_LOG_LEVEL", "3", /*overwrite=*/0);
  if (saved_stderr < 0) return;
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  saved_stderr = -1;
}

}  // namespace hepinfer::cli
