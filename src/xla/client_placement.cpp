#include "client_placement.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "hepinfer/core/error.h"
#include "hepinfer/scheduler/gpu_discovery.h"

namespace hepinfer::xla {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMiB = 1024 * 1024;
// How far the CUDA plugin's own limit may be from the cap before the client is made again with a
// corrected fraction (the plugin takes the fraction of total or of free memory, by version).
constexpr double kCapTolerance = 0.01;

std::string mib_text(std::int64_t bytes) { return std::to_string(bytes / kMiB) + " MiB"; }

detail::PlacedClient on_cpu(const XlaOptions& plugins, std::string note) {
  // One CPU device: the plugin's default splits a CPU into several "devices"; one is steadier and
  // what a single-device program needs. Shared: one set of plugin threads per process.
  auto client = PjrtClient::shared(PjrtPlugin::open(cpu_plugin_path(plugins.cpu_plugin)),
                                   PjrtOptions{{"cpu_device_count", std::int64_t{1}}});
  const std::vector<PjrtDeviceInfo> devices = client->devices();
  std::string device = "PJRT " + client->platform_name() + ":" + std::to_string(devices.front().id);
  return {.client = std::move(client), .gpu = std::nullopt, .device = std::move(device),
          .placement_note = std::move(note)};
}

bool named_explicitly(const XlaOptions& plugins) {
  const char* variable = std::getenv("HEPINFER_PJRT_CUDA_PLUGIN");
  return !plugins.cuda_plugin.empty() || (variable != nullptr && *variable != '\0');
}

}  // namespace

PjrtOptions cuda_client_options(int gpu, std::int64_t cap_mib, std::int64_t device_total_mib) {
  if (gpu < 0) throw InvalidArgumentError("GPU id " + std::to_string(gpu) + " is not a CUDA ordinal");
  PjrtOptions options{{"visible_devices", std::vector<std::int64_t>{gpu}},
                      {"preallocate", false},
                      {"allocator", std::string("bfc")}};
  if (cap_mib > 0) {
    if (device_total_mib <= 0) {
      throw InvalidArgumentError("a memory cap of " + std::to_string(cap_mib) + " MiB on GPU " + std::to_string(gpu) +
                                 " needs the GPU's total memory");
    }
    options["memory_fraction"] = std::min(1.0, static_cast<double>(cap_mib) / static_cast<double>(device_total_mib));
  }
  return options;
}

namespace detail {

PlacedClient place_client(const LoadOptions& options, const XlaOptions& plugins, const std::string& model) {
  if (!options.placement || options.placement->on_cpu()) return on_cpu(plugins, "");
  const Placement& placement = *options.placement;
  if (options.gpu_index >= placement.devices.size()) {
    throw InvalidArgumentError("model '" + model + "' (module '" + placement.module + "'): GPU index " +
                               std::to_string(options.gpu_index) + " of a placement with " +
                               std::to_string(placement.devices.size()) + " GPU(s)");
  }
  const int gpu = placement.devices[options.gpu_index];
  const std::int64_t cap_bytes = placement.memory_bytes(options.gpu_index);

  const fs::path plugin_path = cuda_plugin_path(plugins.cuda_plugin);
  if (plugin_path.empty()) {
    return on_cpu(plugins, "no PJRT CUDA plugin is installed (jax-cuda13-pjrt, or name one with "
                           "$HEPINFER_PJRT_CUDA_PLUGIN); runs on the CPU plugin");
  }
  // A plugin named explicitly must open; one found in the environment may be unusable here.
  std::shared_ptr<const PjrtPlugin> plugin;
  if (named_explicitly(plugins)) plugin = PjrtPlugin::open(plugin_path);
  const scheduler::Discovery discovery = scheduler::discover_gpus({.query_free_memory = false});
  const auto found = std::find_if(discovery.inventory.gpus.begin(), discovery.inventory.gpus.end(),
                                  [&](const scheduler::GpuDevice& device) { return device.id == gpu; });
  if (found == discovery.inventory.gpus.end()) {
    const std::string why = discovery.note.empty() ? "" : " (" + discovery.note + ")";
    return on_cpu(plugins, "this process does not see GPU " + std::to_string(gpu) + why + "; runs on the CPU plugin");
  }
  if (!plugin) {
    try {
      plugin = PjrtPlugin::open(plugin_path);
    } catch (const Error& error) {
      return on_cpu(plugins, std::string("the PJRT CUDA plugin did not open: ") + error.what() +
                                 "; runs on the CPU plugin");
    }
  }
  // A client of its own: the allocator's cap is per client, and each module has its own cap.
  const std::int64_t cap_mib = cap_bytes / kMiB;
  PjrtOptions client_options = cuda_client_options(gpu, cap_mib, found->total_mib);
  std::shared_ptr<const PjrtClient> client;
  try {
    client = std::make_shared<const PjrtClient>(plugin, client_options);
    const std::optional<PjrtMemoryStats> stats = client->memory_stats();
    if (cap_bytes > 0 && stats && stats->bytes_limit && *stats->bytes_limit > 0 &&
        std::abs(static_cast<double>(*stats->bytes_limit - cap_bytes)) > kCapTolerance * static_cast<double>(cap_bytes)) {
      const double fraction = std::get<double>(client_options["memory_fraction"]);
      client_options["memory_fraction"] =
          std::min(1.0, fraction * static_cast<double>(cap_bytes) / static_cast<double>(*stats->bytes_limit));
      client.reset();  // its allocator holds nothing yet (no preallocation)
      client = std::make_shared<const PjrtClient>(plugin, client_options);
    }
  } catch (const FailedPreconditionError& error) {  // e.g. "No visible GPU devices"
    if (named_explicitly(plugins)) throw;
    return on_cpu(plugins, "the PJRT CUDA plugin has no GPU " + std::to_string(gpu) + ": " + error.what() +
                               "; runs on the CPU plugin");
  }
  const std::vector<PjrtDeviceInfo> devices = client->devices();
  if (devices.empty()) {
    throw FailedPreconditionError("model '" + model + "': the PJRT CUDA client for GPU " + std::to_string(gpu) +
                                  " has no device");
  }
  std::string device = "PJRT " + client->platform_name() + ":" + std::to_string(devices.front().id) + " (" +
                       devices.front().kind;
  std::int64_t allocator_cap = cap_bytes;
  if (const auto stats = client->memory_stats(); stats && stats->bytes_limit && *stats->bytes_limit > 0) {
    device += ", cap " + mib_text(*stats->bytes_limit);
    if (cap_bytes > 0) allocator_cap = *stats->bytes_limit;
  }
  device += ")";
  return {.client = std::move(client), .gpu = gpu, .device = std::move(device), .placement_note = "",
          .cap_bytes = allocator_cap};
}

}  // namespace detail
}  // namespace hepinfer::xla
