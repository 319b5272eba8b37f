#pragma once
// The YAML files the scheduler reads: a workflow (policy, headroom, modules with their claims)
// and a simulated GPU inventory. Errors name the file, the line and the field.
//
//   policy: spread                      # pack (default) or spread
//   headroom_mib: 512
//   modules:
//     - name: jet_tagger
//       model: models/tagger/saved_model
//       claim: {gpus: 1, memory_mib: 2048, cpu_fallback: true, priority: 1}
//
//   gpus: [{id: 0, memory_mib: 16384, name: "A100"}]   # an inventory file

#include <filesystem>
#include <string>
#include <vector>

#include "hepinfer/scheduler/plan.h"

namespace hepinfer::scheduler {

struct ModuleConfig {
  std::string name;
  std::string model;
  Claim claim;  // claim.module == name
};

struct WorkflowConfig {
  PlanOptions plan;
  std::vector<ModuleConfig> modules;
  std::vector<Claim> claims() const;
};

// Throw FileNotFoundError or InvalidArgumentError ("FILE line N: FIELD: what was expected").
WorkflowConfig read_workflow(const std::filesystem::path& path);
Inventory read_inventory(const std::filesystem::path& path);
// The same from text; `source` names it in errors.
WorkflowConfig parse_workflow(const std::string& text, const std::string& source);
Inventory parse_inventory(const std::string& text, const std::string& source);

}  // namespace hepinfer::scheduler
