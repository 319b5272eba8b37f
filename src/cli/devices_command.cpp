// `hepinfer devices [--json]`: the GPUs this process can use, as the scheduler will see them, and
// the devices the PJRT CPU plugin offers (XLA backend). Needs no TensorFlow and no GPU: without a
// driver or a plugin it reports none and why.

#include <iomanip>
#include <iostream>

#include "commands.h"
#include "hepinfer/core/error.h"
#include "hepinfer/scheduler/gpu_discovery.h"
#include "nlohmann/json.hpp"
#ifdef HEPINFER_HAS_XLA
#include "hepinfer/xla/pjrt_plugin.h"
#endif

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

// What the PJRT CPU plugin offers, with its default options; a note instead when it cannot open.
nlohmann::json pjrt_cpu_json() {
#ifdef HEPINFER_HAS_XLA
  const std::filesystem::path path = xla::cpu_plugin_path();
  try {
    const auto plugin = xla::PjrtPlugin::open(path);
    const xla::PjrtClient client(plugin);
    nlohmann::json devices = nlohmann::json::array();
    for (const xla::PjrtDeviceInfo& device : client.devices()) {
      devices.push_back({{"id", device.id}, {"kind", device.kind}, {"description", device.description}});
    }
    const auto& attributes = plugin->info().attributes;
    const auto stablehlo = attributes.find("stablehlo_current_version");
    return {{"plugin", path.string()},
            {"api", std::to_string(plugin->info().api_major) + "." + std::to_string(plugin->info().api_minor)},
            {"stablehlo", stablehlo == attributes.end() ? "" : stablehlo->second},
            {"platform", client.platform_name()},
            {"devices", devices}};
  } catch (const Error& error) {
    return {{"plugin", path.string()}, {"devices", nlohmann::json::array()}, {"note", error.what()}};
  }
#else
  return {{"devices", nlohmann::json::array()}, {"note", "this hepinfer was built without the XLA backend"}};
#endif
}

void print_pjrt_cpu(const nlohmann::json& cpu) {
  std::cout << "PJRT CPU plugin: ";
  if (cpu.contains("note")) {
    std::cout << "none (" << cpu["note"].get<std::string>() << ")\n";
    return;
  }
  std::cout << cpu["plugin"].get<std::string>() << " (PJRT C API " << cpu["api"].get<std::string>() << ", StableHLO "
            << cpu["stablehlo"].get<std::string>() << "): " << cpu["devices"].size() << " device(s)";
  for (const auto& device : cpu["devices"]) {
    std::cout << " " << device["kind"].get<std::string>() << ":" << device["id"].get<int>();
  }
  std::cout << "\n";
}

}  // namespace

void add_devices_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* command = app.add_subcommand("devices", "List the GPUs this process can use (CUDA driver, at run time)");
  command->add_flag("--json", *json, "Print JSON instead of text");
  command->callback([json] {
    const scheduler::Discovery discovery = scheduler::discover_gpus();
    const nlohmann::json pjrt_cpu = pjrt_cpu_json();
    if (*json) {
      nlohmann::json report = discovery_json(discovery);
      report["pjrt"] = {{"cpu", pjrt_cpu}};
      std::cout << report.dump(2) << "\n";
    } else {
      print_discovery(discovery);
      print_pjrt_cpu(pjrt_cpu);
    }
  });
}

}  // namespace hepinfer::cli
