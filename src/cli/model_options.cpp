// The options every model-opening command shares.
#include "hepinfer/scheduler/gpu_discovery.h"
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
  command.add_flag_function(
      "--live-variables", [&options](std::int64_t) { options.freeze_variables = false; },
      "SavedModels: keep variables live instead of freezing read-only ones into constants at load");
  command
      .add_option_function<std::int64_t>(
          "--freeze-limit-mib", [&options](std::int64_t mib) { options.freeze_limit_bytes = mib << 20; },
          "SavedModels: freeze read-only variables, smallest first, up to this many MiB in all (default 64); the "
          "rest stay live (freezing costs ~13x the frozen bytes of memory while the model loads). Frozen graphs: "
          "large constants beyond it are held as variables")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 30));
  command.add_option("--allow-op", options.allowed_ops,
                     "Accept this TF op type although it is outside the inference allowlist (repeatable)");
  command.add_flag("--allow-unsafe-ops", options.allow_unsafe_ops,
                   "Load models whatever ops they use, file and Python ops included (trusted models only)");
}

void add_gpu_options(CLI::App& command, GpuRequest& request) {
  command.add_option("--gpu", request.gpu, "Run the model on this GPU (CUDA ordinal), through a one-module device plan")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--gpu-memory-mib", request.memory_mib, "The model's memory on its GPU (default 1024)")
      ->check(CLI::PositiveNumber);
}

void place_on_requested_gpu(const GpuRequest& request, LoadOptions& options) {
  if (!request.gpu) return;
  scheduler::ResourceScheduler scheduler(scheduler::discover_gpus().inventory, {}, backend_scheduler_hooks());
  const scheduler::ClaimTicket ticket = scheduler.claim({.module = "command line",
                                                         .gpus = 1,
                                                         .preferred = {*request.gpu},
                                                         .memory_mib = request.memory_mib,
                                                         .cpu_fallback = false});
  scheduler.make_plan();
  options.placement = ticket.assignment();
  options.gpu_index = 0;
}

}  // namespace hepinfer::cli
