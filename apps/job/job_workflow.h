#pragma once
// What `hepinfer run` executes: a workflow file (job/workflow_file.h, which reads every field)
// with its model paths resolved and every module's kind known.
//
//   job: {events: 5000, streams: 4, threads: 4, seed: 12345}
//   modules:
//     - name: jet_tagger
//       model: jet_tagger/saved_model          # relative: to the models directory
//       claim: {gpus: 1, memory_mib: 2048, cpu_fallback: true}
//       settings: {kind: jet_tagger, mode: async, batching: true, batch_rows: 256, batch_delay_us: 200}
//
// Module settings: kind (jet_tagger | event_classifier | particle_flow), mode (sync | async;
// async is the framework's external-work pattern and needs batching), batching (a YAML boolean),
// batch_rows, batch_delay_us, batches_in_flight (backend runs at once: more than 1 overlaps a
// remote or GPU model's round trips), split_rows (most rows per backend run), cpu_memory_budget_mib
// (memory per run when the plan puts the module on the CPU; needs a measured memory model).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/scheduler/plan.h"
#include "job/workflow_file.h"

namespace hepinfer::framework {

// One module of a job: its workflow entry, resolved.
struct ModuleSetup : ModuleSettings {
  std::string name;
  std::filesystem::path model;
  scheduler::Claim claim;
  ModuleKind kind = ModuleKind::kEventClassifier;
};

struct JobWorkflow {
  std::string source;
  scheduler::PlanOptions plan;
  std::vector<ServerPlacement> servers;
  JobSettings job;
  std::vector<ModuleSetup> modules;
};

// `config` as a job: relative model paths are taken relative to `models_directory`; every module
// needs a model and a kind. Throws InvalidArgumentError naming the file, line and field.
JobWorkflow job_workflow_from(const framework::WorkflowConfig& config, const std::filesystem::path& models_directory);

// Threads left at 0 become one per core; streams left at 0, one per thread.
JobSettings with_defaults(JobSettings settings);

// Turns off dynamic batching everywhere; asynchronous modules become synchronous, since the
// batcher is their external worker.
void disable_batching(JobWorkflow& workflow);

// The workflow `hepinfer run` uses without a file: the three demo models of
// tools/make_demo_models.py.
std::string_view default_workflow_yaml();

}  // namespace hepinfer::framework
