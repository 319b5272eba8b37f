#include "job/job_workflow.h"

#include <algorithm>
#include <thread>

#include "hepinfer/core/error.h"

namespace hepinfer::framework {
namespace {

constexpr std::string_view kDefaultWorkflow = R"(# hepinfer's default job: three modules of an event reconstruction on synthetic events.
# The jet tagger wants a GPU most; the event classifier can live anywhere; particle flow runs
# on the CPU and splits its large batches.
policy: spread
headroom_mib: 1024
# Threads and streams: one per core unless set here or on the command line.
job: {events: 5000, seed: 12345}
modules:
  - name: jet_tagger
    model: jet_tagger/saved_model
    claim: {gpus: 1, memory_mib: 2048, priority: 2, cpu_fallback: true, typical_batch_size: 64}
    settings: {kind: jet_tagger, mode: async, batching: true, batch_rows: 256, batch_delay_us: 200}
  - name: event_classifier
    model: event_classifier/frozen.pb
    claim: {gpus: 1, memory_mib: 512, priority: 1, cpu_fallback: true, typical_batch_size: 1}
    settings: {kind: event_classifier, mode: sync}
  - name: particle_flow
    model: particle_flow/saved_model
    claim: {gpus: 0}
    settings: {kind: particle_flow, mode: sync, split_rows: 1024}
)";

ModuleSetup module_setup(const ModuleConfig& module, const std::string& source, const std::string& field,
                         const std::filesystem::path& models_directory) {
  const std::string where = "'" + source + "'" + (module.line > 0 ? " line " + std::to_string(module.line) : "") + ": ";
  if (module.model.empty()) throw InvalidArgumentError(where + field + ".model: module '" + module.name + "' needs a model");
  if (!module.kind) {
    throw InvalidArgumentError(where + field + ".settings.kind: module '" + module.name +
                               "' needs a kind: jet_tagger, event_classifier or particle_flow");
  }
  ModuleSetup setup;
  static_cast<ModuleSettings&>(setup) = module.settings;
  setup.name = module.name;
  const std::filesystem::path model(module.model);
  // A served model ("http://HOST:PORT/v2/models/NAME") is not a path.
  const bool url = module.model.rfind("http://", 0) == 0 || module.model.rfind("https://", 0) == 0;
  setup.model = model.is_absolute() || url ? model : models_directory / model;
  setup.claim = module.claim;
  setup.kind = *module.kind;
  return setup;
}

}  // namespace

JobWorkflow job_workflow_from(const WorkflowConfig& config, const std::filesystem::path& models_directory) {
  JobWorkflow workflow{.source = config.source, .plan = config.plan, .servers = config.servers, .job = config.job};
  if (config.modules.empty()) {
    throw InvalidArgumentError("'" + config.source + "': modules: a job needs at least one module");
  }
  for (std::size_t i = 0; i < config.modules.size(); ++i) {
    workflow.modules.push_back(
        module_setup(config.modules[i], config.source, "modules[" + std::to_string(i) + "]", models_directory));
  }
  return workflow;
}

JobSettings with_defaults(JobSettings settings) {
  if (settings.threads == 0) settings.threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  if (settings.streams == 0) settings.streams = settings.threads;
  return settings;
}

void disable_batching(JobWorkflow& workflow) {
  for (ModuleSetup& module : workflow.modules) {
    module.batching = false;
    module.mode = ExecutionMode::kSync;
  }
}

std::string_view default_workflow_yaml() { return kDefaultWorkflow; }

}  // namespace hepinfer::framework
