#pragma once
// The YAML files of a job: a workflow (policy, headroom, modules with their claims) and a
// simulated GPU inventory. The scheduler itself takes claims and options, not files; this
// application layer reads them (hepinfer plan, hepinfer run). Errors name the file, the line and
// the field.
//
//   policy: spread                      # pack (default) or spread
//   headroom_mib: 512
//   modules:
//     - name: jet_tagger
//       model: models/tagger/saved_model
//       claim: {gpus: 1, memory_mib: 2048, cpu_fallback: true, priority: 1}
//       settings: {kind: jet_tagger, mode: async}   # for other layers: scalars, passed through
//   job: {events: 1000, streams: 4}                 # likewise, passed through
//
//   gpus: [{id: 0, memory_mib: 16384, name: "A100"}]   # an inventory file

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "hepinfer/scheduler/plan.h"

namespace hepinfer::framework {

// A scalar the scheduler does not interpret, kept with its line so that the layer reading it
// can name it in errors.
struct Setting {
  std::string value;
  int line = 0;  // 1-based; 0: not from a file
};
using Settings = std::map<std::string, Setting>;

struct ModuleConfig {
  std::string name;
  std::string model;
  scheduler::Claim claim;  // claim.module == name
  Settings settings;  // the module's `settings:` mapping
};

struct WorkflowConfig {
  std::string source;  // the file (or text) it was read from
  scheduler::PlanOptions plan;
  std::vector<ModuleConfig> modules;
  Settings job;  // the top-level `job:` mapping
  std::vector<scheduler::Claim> claims() const;
};

// Throw FileNotFoundError or InvalidArgumentError ("FILE line N: FIELD: what was expected").
WorkflowConfig read_workflow(const std::filesystem::path& path);
scheduler::Inventory read_inventory(const std::filesystem::path& path);
// The same from text; `source` names it in errors.
WorkflowConfig parse_workflow(const std::string& text, const std::string& source);
scheduler::Inventory parse_inventory(const std::string& text, const std::string& source);

}  // namespace hepinfer::framework
