// libFuzzer target: workflow and inventory YAML, then planning and the demo job's settings on
// whatever parsed. Each step must succeed or throw a hepinfer::Error.
#include <cstdint>
#include <string>

#include "hepinfer/core/error.h"
#include "job/job_workflow.h"
#include "hepinfer/scheduler/plan.h"
#include "job/workflow_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const hepinfer::framework::WorkflowConfig workflow = hepinfer::framework::parse_workflow(text, "fuzz workflow");
    hepinfer::scheduler::Inventory inventory;
    inventory.gpus = {{.id = 0, .name = "a", .total_mib = 16384, .free_mib = 16384},
                      {.id = 1, .name = "b", .total_mib = 8192, .free_mib = 6000}};
    try {
      hepinfer::scheduler::make_plan(workflow.claims(), inventory, workflow.plan);
    } catch (const hepinfer::Error&) {
    }
    hepinfer::framework::job_workflow_from(workflow, "/models");
  } catch (const hepinfer::Error&) {
  }
  try {
    const hepinfer::scheduler::Inventory inventory = hepinfer::framework::parse_inventory(text, "fuzz inventory");
    hepinfer::scheduler::make_plan({{.module = "m", .gpus = 1, .memory_mib = 1}}, inventory);
  } catch (const hepinfer::Error&) {
  }
  return 0;
}
