#include "hepinfer/scheduler/plan.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "claim_validation.h"
#include "hepinfer/core/error.h"

namespace hepinfer::scheduler {
namespace {

// Larger than any GPU memory for decades; bigger values are typos (bytes given as MiB).
constexpr std::int64_t kAbsurdMib = std::int64_t{1} << 30;  // 1 PiB

struct GpuState {
  GpuUsage usage;
  double expected_calls = 0;
  std::int64_t remaining() const { return usage.capacity_mib - usage.assigned_mib; }
};

std::string ids_text(const std::vector<int>& ids) {
  std::string text;
  for (int id : ids) {
    if (!text.empty()) text.push_back(',');
    text.append(std::to_string(id));
  }
  return text;
}

std::string free_text(const std::vector<GpuState>& gpus) {
  if (gpus.empty()) return "no GPUs";
  std::ostringstream text;
  for (const GpuState& gpu : gpus) {
    text << (&gpu == &gpus.front() ? "" : ", ") << "GPU " << gpu.usage.id << ": " << gpu.remaining() << " MiB";
  }
  return text.str();
}

}  // namespace

void validate_claim(const Claim& claim) {
  auto bad = [](const std::string& what) { throw InvalidArgumentError(what); };
  const std::string who = "module '" + claim.module + "'";
  if (claim.module.empty()) bad("a claim has no module name");
  if (claim.gpus < 0) bad(who + ": gpus must be >= 0, got " + std::to_string(claim.gpus));
  if (claim.memory_mib < 0 || claim.memory_per_gpu_mib < 0) bad(who + ": memory must not be negative");
  if (claim.memory_mib > kAbsurdMib || claim.memory_per_gpu_mib > kAbsurdMib) {
    bad(who + ": memory of more than 1 PiB is not plausible (MiB expected)");
  }
  if (claim.expected_calls_per_second < 0 || claim.typical_batch_size < 0 || claim.memory_per_sample_mib < 0) {
    bad(who + ": calls_per_second, typical_batch_size and memory_per_sample_mib must not be negative");
  }
  if (claim.memory_mib > 0 && claim.memory_per_gpu_mib > 0) {
    bad(who + ": give memory_mib (total) or memory_per_gpu_mib, not both");
  }
  const bool wants_gpu = claim.gpus > 0 || !claim.preferred.empty();
  if (wants_gpu && claim.memory_mib == 0 && claim.memory_per_gpu_mib == 0) {
    bad(who + ": a GPU claim needs memory_mib or memory_per_gpu_mib > 0");
  }
  if (claim.remote != RemotePolicy::kNever && claim.served_model.name.empty()) {
    bad(who + ": remote " + std::string(remote_policy_name(claim.remote)) + " needs the name servers serve the model under");
  }
  std::set<int> preferred;
  for (int id : claim.preferred) {
    if (!preferred.insert(id).second) bad(who + ": preferred GPU " + std::to_string(id) + " listed twice");
  }
}

namespace {

void validate(const std::vector<Claim>& claims, const Inventory& inventory, const PlanOptions& options) {
  auto bad = [](const std::string& what) { throw InvalidArgumentError(what); };
  if (options.headroom_mib < 0 || options.headroom_mib > kAbsurdMib) {
    bad("headroom_mib " + std::to_string(options.headroom_mib) + " is out of range");
  }
  std::set<int> gpu_ids;
  for (const GpuDevice& gpu : inventory.gpus) {
    if (!gpu_ids.insert(gpu.id).second) bad("inventory lists GPU " + std::to_string(gpu.id) + " twice");
    if (gpu.total_mib <= 0 || gpu.total_mib > kAbsurdMib || gpu.free_mib < 0 || gpu.free_mib > gpu.total_mib) {
      bad("inventory GPU " + std::to_string(gpu.id) + " has impossible memory (total " +
          std::to_string(gpu.total_mib) + " MiB, free " + std::to_string(gpu.free_mib) + " MiB)");
    }
  }
  std::set<std::string> server_names;
  for (const ServerOffer& server : inventory.servers) {
    if (server.name.empty()) bad("a server (" + server.url + ") has no name");
    if (!server_names.insert(server.name).second) bad("server '" + server.name + "' is listed twice");
  }
  std::set<std::string> names;
  for (const Claim& claim : claims) {
    validate_claim(claim);
    if (!names.insert(claim.module).second) bad("module '" + claim.module + "' claims resources twice");
  }
}

// The GPUs a claim gets under the policy, or none if they do not fit.
std::vector<GpuState*> choose(const Claim& claim, std::int64_t per_gpu, std::vector<GpuState>& gpus,
                              Policy policy) {
  std::vector<GpuState*> chosen;
  if (!claim.preferred.empty()) {
    for (int id : claim.preferred) {
      auto found = std::find_if(gpus.begin(), gpus.end(), [&](const GpuState& gpu) { return gpu.usage.id == id; });
      if (found == gpus.end() || found->remaining() < per_gpu) return {};
      chosen.push_back(&*found);
    }
    return chosen;
  }
  std::vector<GpuState*> order;
  for (GpuState& gpu : gpus) order.push_back(&gpu);
  if (policy == Policy::kSpread) {
    std::stable_sort(order.begin(), order.end(), [](const GpuState* a, const GpuState* b) {
      // Least assigned share first, then least expected load; ties keep id order.
      const double share_a = static_cast<double>(a->usage.assigned_mib) / static_cast<double>(std::max<std::int64_t>(1, a->usage.capacity_mib));
      const double share_b = static_cast<double>(b->usage.assigned_mib) / static_cast<double>(std::max<std::int64_t>(1, b->usage.capacity_mib));
      if (share_a != share_b) return share_a < share_b;
      return a->expected_calls < b->expected_calls;
    });
  }
  for (GpuState* gpu : order) {
    if (static_cast<int>(chosen.size()) == claim.gpus) break;
    if (gpu->remaining() >= per_gpu) chosen.push_back(gpu);
  }
  if (static_cast<int>(chosen.size()) < claim.gpus) return {};
  std::sort(chosen.begin(), chosen.end(), [](const GpuState* a, const GpuState* b) { return a->usage.id < b->usage.id; });
  return chosen;
}

struct ServerState {
  const ServerOffer* offer = nullptr;
  ServerUsage usage;
};

// The servers that have the claim's model ready, least loaded (expected calls, then modules)
// first; ties keep inventory order.
std::vector<ServerState*> servers_for(const Claim& claim, std::vector<ServerState>& servers) {
  std::vector<ServerState*> ready;
  for (ServerState& server : servers) {
    const auto& models = server.offer->ready_models;
    if (server.offer->live && std::find(models.begin(), models.end(), claim.served_model) != models.end()) {
      ready.push_back(&server);
    }
  }
  std::stable_sort(ready.begin(), ready.end(), [](const ServerState* a, const ServerState* b) {
    if (a->usage.expected_calls != b->usage.expected_calls) return a->usage.expected_calls < b->usage.expected_calls;
    return a->usage.modules < b->usage.modules;
  });
  return ready;
}

std::string why_no_server(const Claim& claim, const std::vector<ServerState>& servers) {
  if (servers.empty()) return "no servers are listed";
  std::string text = "no server has " + claim.served_model.description() + " ready (";
  for (const ServerState& server : servers) {
    text += (&server == &servers.front() ? "" : "; ") + server.offer->name + ": " +
            (server.offer->live ? "live, model not ready" : "not answering: " + server.offer->note);
  }
  return text + ")";
}

}  // namespace

std::string_view remote_policy_name(RemotePolicy policy) {
  switch (policy) {
    case RemotePolicy::kNever: return "never";
    case RemotePolicy::kPrefer: return "prefer";
    case RemotePolicy::kOnly: return "only";
  }
  return "?";
}

std::optional<RemotePolicy> parse_remote_policy(std::string_view name) {
  for (const RemotePolicy policy : {RemotePolicy::kNever, RemotePolicy::kPrefer, RemotePolicy::kOnly}) {
    if (name == remote_policy_name(policy)) return policy;
  }
  return std::nullopt;
}

std::string_view policy_name(Policy policy) { return policy == Policy::kPack ? "pack" : "spread"; }

std::optional<Policy> parse_policy(std::string_view name) {
  for (const Policy policy : {Policy::kPack, Policy::kSpread}) {
    if (name == policy_name(policy)) return policy;
  }
  return std::nullopt;
}

Plan make_plan(const std::vector<Claim>& claims, const Inventory& inventory, const PlanOptions& options) {
  validate(claims, inventory, options);
  std::vector<GpuState> gpus;
  for (const GpuDevice& device : inventory.gpus) {
    GpuState state;
    state.usage = {device.id, std::max<std::int64_t>(0, device.free_mib - options.headroom_mib), options.headroom_mib, 0};
    gpus.push_back(state);
  }
  std::vector<ServerState> servers;
  for (const ServerOffer& offer : inventory.servers) {
    servers.push_back({&offer, {offer.name, offer.url, offer.live, offer.note, 0, 0}});
  }

  // Higher priority first; equal priorities in the order the claims were made.
  std::vector<std::size_t> order(claims.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return claims[a].priority > claims[b].priority; });

  std::vector<Assignment> assignments(claims.size());
  for (std::size_t index : order) {
    const Claim& claim = claims[index];
    Assignment& assignment = assignments[index];
    assignment.module = claim.module;
    std::string remote_note;
    if (claim.remote != RemotePolicy::kNever) {
      const std::vector<ServerState*> ready = servers_for(claim, servers);
      if (!ready.empty()) {
        ServerState& first = *ready.front();
        ++first.usage.modules;
        first.usage.expected_calls += claim.expected_calls_per_second;
        std::string failover;
        for (const ServerState* server : ready) {
          assignment.servers.push_back(
              {server->offer->name, server->offer->url, server->offer->tls, server->offer->token_file});
          if (server != &first) failover += (failover.empty() ? "" : ", ") + server->offer->name;
        }
        assignment.served_model = claim.served_model;
        assignment.local_fallback = claim.remote == RemotePolicy::kPrefer;
        assignment.reason = "remote " + std::string(remote_policy_name(claim.remote)) + ": " +
                            claim.served_model.description() + " ready on " + std::to_string(ready.size()) + " server(s), " + first.offer->name +
                            " least loaded; failover: " + (failover.empty() ? "none" : failover) +
                            "; local fallback: " + (assignment.local_fallback ? "CPU" : "none (remote only)");
        continue;
      }
      if (claim.remote == RemotePolicy::kOnly) {
        throw ResourceExhaustedError("module '" + claim.module + "' may only run on a server, and " +
                                     why_no_server(claim, servers));
      }
      remote_note = why_no_server(claim, servers) + "; runs locally: ";
    }
    if (claim.gpus == 0 && claim.preferred.empty()) {
      assignment.reason = remote_note + "CPU-only claim";
      continue;
    }
    const int count = claim.preferred.empty() ? claim.gpus : static_cast<int>(claim.preferred.size());
    const std::int64_t per_gpu =
        claim.memory_per_gpu_mib > 0 ? claim.memory_per_gpu_mib : (claim.memory_mib + count - 1) / count;
    std::ostringstream asked_text;
    if (claim.preferred.empty()) {
      asked_text << count << " GPU(s)";
    } else {
      asked_text << "GPU(s) " << ids_text(claim.preferred);
    }
    asked_text << " x " << per_gpu << " MiB (priority " << claim.priority << ")";
    const std::string asked = asked_text.str();
    const std::string free_before = free_text(gpus);
    const std::vector<GpuState*> chosen = choose(claim, per_gpu, gpus, options.policy);
    if (chosen.empty()) {
      if (!claim.cpu_fallback) {
        throw ResourceExhaustedError("module '" + claim.module + "' asked for " + asked + " and may not fall back to CPU; free after headroom " +
                                     std::to_string(options.headroom_mib) + " MiB and higher-priority claims: " + free_before);
      }
      assignment.reason = remote_note + "asked for " + asked + "; free: " + free_before + "; fell back to CPU";
      continue;
    }
    for (GpuState* gpu : chosen) {
      gpu->usage.assigned_mib += per_gpu;
      gpu->expected_calls += claim.expected_calls_per_second / static_cast<double>(chosen.size());
      assignment.devices.push_back(gpu->usage.id);
      assignment.memory_mib.push_back(per_gpu);
    }
    assignment.reason = remote_note + std::string(policy_name(options.policy)) + ": asked for " + asked + "; free before: " + free_before;
    const double typical_batch_mib = static_cast<double>(claim.typical_batch_size) * claim.memory_per_sample_mib;
    if (typical_batch_mib > static_cast<double>(per_gpu)) {
      std::ostringstream warning;
      warning << "; note: a typical batch (" << claim.typical_batch_size << " x " << claim.memory_per_sample_mib
              << " MiB) needs " << typical_batch_mib << " MiB, more than the " << per_gpu
              << " MiB per GPU: such batches will be split";
      assignment.reason += warning.str();
    }
  }

  Plan plan;
  plan.assignments = std::move(assignments);
  for (const GpuState& gpu : gpus) plan.gpus.push_back(gpu.usage);
  for (const ServerState& server : servers) plan.servers.push_back(server.usage);
  return plan;
}

const Assignment& Plan::for_module(const std::string& module) const {
  for (const Assignment& assignment : assignments) {
    if (assignment.module == module) return assignment;
  }
  throw NotFoundError("the plan has no module '" + module + "'");
}

std::string Plan::explain() const {
  std::ostringstream text;
  for (const Assignment& assignment : assignments) {
    text << assignment.module << " -> ";
    if (assignment.on_server()) {
      text << "server " << assignment.servers.front().name << " (" << assignment.served_model.description() << ")";
    } else if (assignment.on_cpu()) {
      text << "CPU";
    } else {
      for (std::size_t i = 0; i < assignment.devices.size(); ++i) {
        text << (i ? ", " : "") << "GPU " << assignment.devices[i] << " (" << assignment.memory_mib[i] << " MiB)";
      }
    }
    text << "  [" << assignment.reason << "]\n";
  }
  for (const GpuUsage& gpu : gpus) {
    text << "GPU " << gpu.id << ": capacity " << gpu.capacity_mib << " MiB after headroom " << gpu.headroom_mib
         << ", assigned " << gpu.assigned_mib << ", free " << gpu.capacity_mib - gpu.assigned_mib << "\n";
  }
  for (const ServerUsage& server : servers) {
    text << "server " << server.name << " (" << server.url << "): "
         << (server.live ? "live" : "not answering: " + server.note) << ", first server of " << server.modules
         << " module(s), " << server.expected_calls << " calls/s expected\n";
  }
  return text.str();
}

}  // namespace hepinfer::scheduler
