#include "plan_output.h"

#include <algorithm>
#include <iomanip>

#include "hepinfer/scheduler/gpu_discovery.h"
#include "job/workflow_file.h"
#ifdef HEPINFER_HAS_REMOTE
#include "hepinfer/remote/server_probe.h"
#endif

namespace hepinfer::cli {

namespace {

std::vector<std::string> servers_of(const scheduler::Assignment& assignment) {
  std::vector<std::string> names;
  for (const auto& server : assignment.servers) names.push_back(server.name);
  return names;
}

}  // namespace

nlohmann::json plan_json(const scheduler::Plan& plan) {
  nlohmann::json modules = nlohmann::json::array(), gpus = nlohmann::json::array();
  for (const auto& assignment : plan.assignments) {
    const std::string& version = assignment.served_model.version;
    const nlohmann::json served_version = version.empty() ? nlohmann::json() : nlohmann::json(version);
    modules.push_back({{"name", assignment.module},
                       {"devices", assignment.devices},
                       {"memory_mib", assignment.memory_mib},
                       {"on_cpu", assignment.on_cpu()},
                       {"servers", servers_of(assignment)},
                       {"served_model", assignment.served_model.name},
                       {"served_version", served_version},
                       {"local_fallback", assignment.on_server() ? nlohmann::json(assignment.local_fallback) : nlohmann::json()},
                       {"reason", assignment.reason}});
  }
  nlohmann::json servers = nlohmann::json::array();
  for (const auto& server : plan.servers) {
    servers.push_back({{"name", server.name}, {"url", server.url}, {"live", server.live}, {"note", server.note},
                       {"modules", server.modules}, {"expected_calls_per_second", server.expected_calls}});
  }
  for (const auto& gpu : plan.gpus) {
    gpus.push_back({{"id", gpu.id}, {"capacity_mib", gpu.capacity_mib}, {"assigned_mib", gpu.assigned_mib},
                    {"headroom_mib", gpu.headroom_mib}});
  }
  return {{"modules", modules}, {"gpus", gpus}, {"servers", servers}};
}

void print_plan(std::ostream& out, const scheduler::Plan& plan) {
  out << std::left << std::setw(24) << "module" << std::setw(20) << "devices" << "memory (MiB)\n";
  for (const auto& assignment : plan.assignments) {
    std::string devices = "CPU", memory = "-";
    if (assignment.on_server()) {
      devices = "server " + assignment.servers.front().name;
    } else if (!assignment.on_cpu()) {
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
  if (!plan.servers.empty()) {
    out << "\n" << std::setw(20) << "server" << std::setw(34) << "url" << std::setw(10) << "modules" << "state\n";
    for (const auto& server : plan.servers) {
      out << std::setw(20) << server.name << std::setw(34) << server.url << std::setw(10) << server.modules
          << (server.live ? "live" : "not answering: " + server.note) << "\n";
    }
  }
  out << "\nwhy:\n";
  for (const auto& assignment : plan.assignments) out << "  " << assignment.module << ": " << assignment.reason << "\n";
}


void add_server_offers(const std::vector<ServerPlacement>& servers, const std::vector<scheduler::Claim>& claims,
                       ChosenInventory& chosen) {
  if (servers.empty()) return;
  std::vector<ServedModel> models;
  for (const scheduler::Claim& claim : claims) {
    if (claim.remote != scheduler::RemotePolicy::kNever &&
        std::find(models.begin(), models.end(), claim.served_model) == models.end()) {
      models.push_back(claim.served_model);
    }
  }
#ifdef HEPINFER_HAS_REMOTE
  std::vector<remote::Endpoint> endpoints;
  for (const ServerPlacement& server : servers) {
    endpoints.push_back({server.name, server.url, server.tls, server.token_file});
  }
  chosen.inventory.servers = remote::probe_servers(endpoints, models);
  int live = 0;
  for (const auto& offer : chosen.inventory.servers) live += offer.live ? 1 : 0;
  chosen.source += "; " + std::to_string(live) + " of " + std::to_string(servers.size()) + " server(s) answering";
#else
  for (const ServerPlacement& server : servers) {
    chosen.inventory.servers.push_back({.name = server.name, .url = server.url, .live = false,
                                        .note = "this hepinfer was built without the remote backend"});
  }
#endif
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
