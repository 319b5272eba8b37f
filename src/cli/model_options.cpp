// The options every model-opening command shares.
#include "model_loader.h"

namespace hepinfer::cli {

void add_threading_option(CLI::App& command, ThreadingMode& mode) {
  command.add_option_function<std::string>(
      "--threading",
      [&mode](const std::string& name) {
        const std::optional<ThreadingMode> parsed = parse_threading_mode(name);
        if (!parsed) throw CLI::ValidationError("--threading", "'" + name + "' is not inline, tbb or pools");
        mode = *parsed;
      },
      "Where the backend's work runs: inline (default), tbb, or pools (the backend's own; 'tensorflow' also accepted)");
}

void add_op_policy_options(CLI::App& command, LoadOptions& options) {
  command.add_option("--allow-op", options.allowed_ops,
                     "Accept this TF op type although it is outside the inference allowlist (repeatable)");
  command.add_flag("--allow-unsafe-ops", options.allow_unsafe_ops,
                   "Load models whatever ops they use, file and Python ops included (trusted models only)");
}

}  // namespace hepinfer::cli
