// `hepinfer plan WORKFLOW.yaml [--inventory INV.yaml] [--policy P] [--json]`: how the scheduler
// would divide the GPUs among the workflow's modules, and why. Needs no TensorFlow.

#include <iomanip>
#include <iostream>

#include "commands.h"
#include "hepinfer/scheduler/gpu_discovery.h"
#include "hepinfer/scheduler/workflow_file.h"
#include "nlohmann/json.hpp"

namespace hepinfer::cli {
namespace {

nlohmann::json plan_json(const scheduler::Plan& plan) {
  nlohmann::json modules = nlohmann::json::array(), gpus = nlohmann::json::array();
  for (const auto& assignment : plan.assignments) {
    modules.push_back({{"name", assignment.module},
                       {"devices", assignment.devices},
                       {"memory_mib", assignment.memory_mib},
                       {"on_cpu", assignment.on_cpu()},
                       {"reason", assignment.reason}});
  }
  for (const auto& gpu : plan.gpus) {
    gpus.push_back({{"id", gpu.id}, {"capacity_mib", gpu.capacity_mib}, {"assigned_mib", gpu.assigned_mib},
                    {"headroom_mib", gpu.headroom_mib}});
  }
  return {{"modules", modules}, {"gpus", gpus}};
}

void print_plan(const scheduler::Plan& plan) {
  std::cout << std::left << std::setw(24) << "module" << std::setw(20) << "devices" << "memory (MiB)\n";
  for (const auto& assignment : plan.assignments) {
    std::string devices = "CPU", memory = "-";
    if (!assignment.on_cpu()) {
      devices.clear();
      memory.clear();
      devices = "GPU ";
      for (std::size_t i = 0; i < assignment.devices.size(); ++i) {
        if (i > 0) {
          devices.push_back(',');
          memory.push_back(',');
        }
        devices.append(std::to_string(assignment.devices[i]));
        memory.append(std::to_string(assignment.memory_mib[i]));
      }
    }
    std::cout << std::setw(24) << assignment.module << std::setw(20) << devices << memory << "\n";
  }
  std::cout << "\n" << std::setw(8) << "GPU" << std::setw(16) << "capacity" << std::setw(12) << "headroom"
            << std::setw(12) << "assigned" << "free (MiB)\n";
  if (plan.gpus.empty()) std::cout << "(no GPUs)\n";
  for (const auto& gpu : plan.gpus) {
    std::cout << std::setw(8) << gpu.id << std::setw(16) << gpu.capacity_mib + gpu.headroom_mib << std::setw(12)
              << gpu.headroom_mib << std::setw(12) << gpu.assigned_mib << gpu.capacity_mib - gpu.assigned_mib << "\n";
  }
  std::cout << "\nwhy:\n";
  for (const auto& assignment : plan.assignments) std::cout << "  " << assignment.module << ": " << assignment.reason << "\n";
}

}  // namespace

void add_plan_command(CLI::App& app) {
  struct Options {
    std::string workflow;
    std::string inventory;
    std::string policy;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("plan", "Divide the GPUs among a workflow's modules and explain why");
  command->add_option("workflow", options->workflow, "Workflow YAML (policy, headroom_mib, modules)")->required();
  command->add_option("--inventory", options->inventory, "Simulated GPU inventory YAML (default: the GPUs found on this machine)");
  command->add_option("--policy", options->policy, "Override the workflow's policy")
      ->check(CLI::IsMember({"pack", "spread"}));
  command->add_flag("--json", options->json, "Print JSON instead of text");
  command->callback([options] {
    scheduler::WorkflowConfig workflow = scheduler::read_workflow(options->workflow);
    if (!options->policy.empty()) {
      workflow.plan.policy = options->policy == "spread" ? scheduler::Policy::kSpread : scheduler::Policy::kPack;
    }
    scheduler::Inventory inventory;
    std::string source;
    if (options->inventory.empty()) {
      scheduler::Discovery discovery = scheduler::discover_gpus();
      inventory = std::move(discovery.inventory);
      source = "this machine, " + std::to_string(inventory.gpus.size()) + " GPU(s)" +
               (discovery.note.empty() ? "" : " (" + discovery.note + ")");
    } else {
      inventory = scheduler::read_inventory(options->inventory);
      source = options->inventory + ", " + std::to_string(inventory.gpus.size()) + " simulated GPU(s)";
    }
    const scheduler::Plan plan = scheduler::make_plan(workflow.claims(), inventory, workflow.plan);
    if (options->json) {
      std::cout << plan_json(plan).dump(2) << "\n";
    } else {
      std::cout << "inventory: " << source << "\npolicy: " << scheduler::policy_name(workflow.plan.policy)
                << ", headroom " << workflow.plan.headroom_mib << " MiB per GPU\n\n";
      print_plan(plan);
    }
  });
}

}  // namespace hepinfer::cli
