// `hepinfer devices [--json]`: the GPUs this process can use, as the scheduler will see them, and
// the devices the PJRT CPU and CUDA plugins offer (XLA backend). Needs no TensorFlow and no GPU: without a
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

// What a PJRT plugin (`kind`: "cpu" or "cuda") offers; a note instead when there is none or it
// cannot open. The CUDA client allocates nothing up front, so listing does not take GPU memory.
nlohmann::json pjrt_json(const std::string& kind) {
#ifdef HEPINFER_HAS_XLA
  const std::filesystem::path path = kind == "cpu" ? xla::cpu_plugin_path() : xla::cuda_plugin_path();
  if (path.empty()) {
    return {{"devices", nlohmann::json::array()},
            {"note", "no PJRT CUDA plugin installed (jax-cuda13-pjrt; or name one with $HEPINFER_PJRT_CUDA_PLUGIN)"}};
  }
  try {
    const auto plugin = xla::PjrtPlugin::open(path);
    const xla::PjrtOptions options = kind == "cpu" ? xla::PjrtOptions{} : xla::PjrtOptions{{"preallocate", false}};
    nlohmann::json report = {
        {"plugin", path.string()},
        {"api", std::to_string(plugin->info().api_major) + "." + std::to_string(plugin->info().api_minor)}};
    const auto& attributes = plugin->info().attributes;
    const auto stablehlo = attributes.find("stablehlo_current_version");
    report["stablehlo"] = stablehlo == attributes.end() ? "" : stablehlo->second;
    try {
      const xla::PjrtClient client(plugin, options);
      nlohmann::json devices = nlohmann::json::array();
      for (const xla::PjrtDeviceInfo& device : client.devices()) {
        devices.push_back({{"id", device.id}, {"kind", device.kind}, {"description", device.description}});
      }
      report["platform"] = client.platform_name();
      report["devices"] = devices;
    } catch (const Error& error) {  // a plugin without devices here, e.g. the CUDA plugin without a GPU
      report["devices"] = nlohmann::json::array();
      report["note"] = error.what();
    }
    return report;
  } catch (const Error& error) {
    return {{"plugin", path.string()}, {"devices", nlohmann::json::array()}, {"note", error.what()}};
  }
#else
  return {{"devices", nlohmann::json::array()}, {"note", "this hepinfer was built without the XLA backend"}};
#endif
}

void print_pjrt(const std::string& title, const nlohmann::json& plugin) {
  std::cout << title << ": ";
  if (!plugin.contains("plugin")) {
    std::cout << "none (" << plugin["note"].get<std::string>() << ")\n";
    return;
  }
  std::cout << plugin["plugin"].get<std::string>();
  if (plugin.contains("api")) {
    std::cout << " (PJRT C API " << plugin["api"].get<std::string>() << ", StableHLO "
              << plugin["stablehlo"].get<std::string>() << ")";
  }
  std::cout << ": " << plugin["devices"].size() << " device(s)";
  for (const auto& device : plugin["devices"]) {
    std::cout << " " << device["kind"].get<std::string>() << ":" << device["id"].get<int>();
  }
  if (plugin.contains("note")) std::cout << " (" << plugin["note"].get<std::string>() << ")";
  std::cout << "\n";
}

}  // namespace

void add_devices_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* command = app.add_subcommand("devices", "List the GPUs this process can use (CUDA driver, at run time)");
  command->add_flag("--json", *json, "Print JSON instead of text");
  command->callback([json] {
    const scheduler::Discovery discovery = scheduler::discover_gpus();
    const nlohmann::json pjrt_cpu = pjrt_json("cpu");
    const nlohmann::json pjrt_cuda = pjrt_json("cuda");
    if (*json) {
      nlohmann::json report = discovery_json(discovery);
      report["pjrt"] = {{"cpu", pjrt_cpu}, {"cuda", pjrt_cuda}};
      std::cout << report.dump(2) << "\n";
    } else {
      print_discovery(discovery);
      print_pjrt("PJRT CPU plugin", pjrt_cpu);
      print_pjrt("PJRT CUDA plugin", pjrt_cuda);
    }
  });
}

}  // namespace hepinfer::cli
