#include "plan_output.h"

#include <iomanip>

#include "hepinfer/scheduler/gpu_discovery.h"
#include "job/workflow_file.h"

namespace hepinfer::cli {

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

void print_plan(std::ostream& out, const scheduler::Plan& plan) {
  out << std::left << std::setw(24) << "module" << std::setw(20) << "devices" << "memory (MiB)\n";
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
    out << std::setw(24) << assignment.module << std::setw(20) << devices << memory << "\n";
  }
  out << "\n" << std::setw(8) << "GPU" << std::setw(16) << "capacity" << std::setw(12) << "headroom"
            << std::setw(12) << "assigned" << "free (MiB)\n";
  if (plan.gpus.empty()) out << "(no GPUs)\n";
  for (const auto& gpu : plan.gpus) {
    out << std::setw(8) << gpu.id << std::setw(16) << gpu.capacity_mib + gpu.headroom_mib << std::setw(12)
              << gpu.headroom_mib << std::setw(12) << gpu.assigned_mib << gpu.capacity_mib - gpu.assigned_mib << "\n";
  }
  out << "\nwhy:\n";
  for (const auto& assignment : plan.assignments) out << "  " << assignment.module << ": " << assignment.reason << "\n";
}


ChosenInventory choose_inventory(const std::string& inventory_file) {
  if (!inventory_file.empty()) {
    scheduler::Inventory inventory = framework::read_inventory(inventory_file);
    const std::string source = inventory_file + ", " + std::to_string(inventory.gpus.size()) + " simulated GPU(s)";
    return {std::move(inventory), source};
  }
  scheduler::Discovery discovery = scheduler::discover_gpus();
  const std::string source = "this machine, " + std::to_string(discovery.inventory.gpus.size()) + " GPU(s)" +
                             (discovery.note.empty() ? "" : " (" + discovery.note + ")");
  return {std::move(discovery.inventory), source};
}

}  // namespace hepinfer::cli
