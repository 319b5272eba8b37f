// `hepinfer devices [--json]`: the GPUs this process can use, as the scheduler will see them.
// Needs no TensorFlow and no GPU: without a driver it reports zero GPUs and why.

#include <iomanip>
#include <iostream>

#include "commands.h"
#include "hepinfer/scheduler/gpu_discovery.h"
#include "nlohmann/json.hpp"

namespace hepinfer::cli {
namespace {

nlohmann::json discovery_json(const scheduler::Discovery& discovery) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& gpu : discovery.inventory.gpus) {
    gpus.push_back({{"id", gpu.id},
                    {"name", gpu.name},
                    {"compute_capability", gpu.compute_capability},
                    {"total_mib", gpu.total_mib},
                    {"free_mib", gpu.free_mib}});
  }
  return {{"gpus", gpus},
          {"driver_version", discovery.driver_version},
          {"cuda_visible_devices", discovery.cuda_visible_devices},
          {"note", discovery.note}};
}

void print_discovery(const scheduler::Discovery& discovery) {
  std::cout << "CUDA driver: " << (discovery.driver_version.empty() ? "none" : discovery.driver_version)
            << "   CUDA_VISIBLE_DEVICES: " << discovery.cuda_visible_devices << "\n";
  std::cout << discovery.inventory.gpus.size() << " GPU(s)" << (discovery.note.empty() ? "" : ": " + discovery.note)
            << "\n";
  if (discovery.inventory.gpus.empty()) return;
  std::cout << std::left << std::setw(6) << "id" << std::setw(36) << "name" << std::setw(10) << "compute"
            << std::setw(14) << "total (MiB)" << "free (MiB)\n";
  for (const auto& gpu : discovery.inventory.gpus) {
    std::cout << std::setw(6) << gpu.id << std::setw(36) << gpu.name << std::setw(10) << gpu.compute_capability
              << std::setw(14) << gpu.total_mib << gpu.free_mib << "\n";
  }
}

}  // namespace

void add_devices_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* command = app.add_subcommand("devices", "List the GPUs this process can use (CUDA driver, at run time)");
  command->add_flag("--json", *json, "Print JSON instead of text");
  command->callback([json] {
    const scheduler::Discovery discovery = scheduler::discover_gpus();
    if (*json) {
      std::cout << discovery_json(discovery).dump(2) << "\n";
    } else {
      print_discovery(discovery);
    }
  });
}

}  // namespace hepinfer::cli
