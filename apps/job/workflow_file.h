#pragma once
// The YAML files of a job: a workflow (policy, headroom, modules with their claims) and a
// simulated GPU inventory. The scheduler itself takes claims and options, not files; this
// application layer reads them (hepinfer plan, hepinfer run). Errors name the file, the line and
// the field.
//
//   policy: spread                      # pack (default) or spread
//   headroom_mib: 512
//   servers: [{name: kserve-a, url: "http://127.0.0.1:8601"}]   # Open Inference Protocol servers
//            # https:// servers may add ca_file, certificate_file, private_key_file (PEM)
//   modules:
//     - name: jet_tagger
//       model: models/tagger/saved_model
//       claim: {gpus: 1, memory_mib: 2048, cpu_fallback: true, priority: 1,
//               remote: prefer, served_as: tagger}   # remote: never (default) | prefer | only
//       settings: {kind: jet_tagger, mode: async, batching: true}   # how the demo job runs it
//   job: {events: 1000, streams: 4}
//
//   gpus: [{id: 0, memory_mib: 16384, name: "A100"}]   # an inventory file

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/scheduler/plan.h"

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

// A module's `settings:` other than its kind: how the demo job runs it. `hepinfer plan` needs
// none of them.
struct ModuleSettings {
  ExecutionMode mode = ExecutionMode::kSync;  // async needs batching (checked when read)
  bool batching = false;
  std::int64_t batch_rows = 64;
  std::chrono::microseconds batch_delay{200};
  int batches_in_flight = 1;               // batcher: backend runs at once (remote or GPU modules)
  std::int64_t split_rows = 0;             // most rows per backend run; 0: no fixed limit
  std::int64_t cpu_memory_budget_mib = 0;  // memory per run when placed on the CPU; 0: none
};

// The top-level `job:`. Unset threads: one per core; unset streams: one per thread.
struct JobSettings {
  std::int64_t events = 1000;
  int streams = 0;
  int threads = 0;
  std::uint64_t seed = 12345;
};

struct ModuleConfig {
  std::string name;
  std::string model;
  scheduler::Claim claim;  // claim.module == name
  std::optional<ModuleKind> kind;  // `settings.kind`; required to run a job
  ModuleSettings settings;
  int line = 0;  // of the module's entry, for errors found after reading
};

struct WorkflowConfig {
  std::string source;  // the file (or text) it was read from
  scheduler::PlanOptions plan;
  std::vector<ServerPlacement> servers;  // inference servers the modules may use (claim.remote)
  std::vector<ModuleConfig> modules;
  JobSettings job;
  std::vector<scheduler::Claim> claims() const;
};

// Throw FileNotFoundError or InvalidArgumentError ("FILE line N: FIELD: what was expected").
WorkflowConfig read_workflow(const std::filesystem::path& path);
scheduler::Inventory read_inventory(const std::filesystem::path& path);
// The same from text; `source` names it in errors.
WorkflowConfig parse_workflow(const std::string& text, const std::string& source);
scheduler::Inventory parse_inventory(const std::string& text, const std::string& source);

}  // namespace hepinfer::framework
