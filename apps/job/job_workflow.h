#pragma once
// What `hepinfer run` executes: a workflow file (the scheduler's format, see
// hepinfer/scheduler/workflow_file.h) whose modules carry `settings:` for the demo job and whose
// top level carries `job:`.
//
//   job: {events: 5000, streams: 4, threads: 4, seed: 12345}
//   modules:
//     - name: jet_tagger
//       model: jet_tagger/saved_model          # relative: to the models directory
//       claim: {gpus: 1, memory_mib: 2048, cpu_fallback: true}
//       settings: {kind: jet_tagger, mode: async, batching: true, batch_rows: 256, batch_delay_us: 200}
//
// Module settings: kind (jet_tagger | event_classifier | particle_flow), mode (sync | async;
// async is the framework's external-work pattern and needs batching), batching (true | false),
// batch_rows, batch_delay_us, split_rows (most rows per backend run), cpu_memory_budget_mib
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

// What a module does with an event: which collections it feeds and what its outputs must satisfy.
enum class ModuleKind {
  kJetTagger,        // jets + constituents, one row per jet; rows of probabilities
  kEventClassifier,  // event features, batch 1; probabilities
  kParticleFlow,     // particles, hundreds to thousands of rows; one finite value per particle
};
std::string_view module_kind_name(ModuleKind kind);

enum class ExecutionMode {
  kSync,   // the event's task runs the model (and waits for a batch) on its own thread
  kAsync,  // acquire submits, the thread moves on, produce runs when the outputs are back
};
std::string_view execution_mode_name(ExecutionMode mode);

struct ModuleSetup {
  std::string name;
  std::filesystem::path model;
  scheduler::Claim claim;
  ModuleKind kind = ModuleKind::kEventClassifier;
  ExecutionMode mode = ExecutionMode::kSync;
  bool batching = false;
  std::int64_t batch_rows = 64;
  std::chrono::microseconds batch_delay{200};
  std::int64_t split_rows = 0;  // 0: no fixed limit
  std::int64_t cpu_memory_budget_mib = 0;  // 0: none
};

// Unset threads: one per core; unset streams: one per thread.
struct JobSettings {
  std::int64_t events = 1000;
  int streams = 0;
  int threads = 0;
  std::uint64_t seed = 12345;
};

struct JobWorkflow {
  std::string source;
  scheduler::PlanOptions plan;
  JobSettings job;
  std::vector<ModuleSetup> modules;
};

// Interprets the `job:` and `settings:` parts of `config`; relative model paths are taken
// relative to `models_directory`. Throws InvalidArgumentError naming the file, line and field.
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
