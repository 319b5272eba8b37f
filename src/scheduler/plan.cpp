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

}  // namespace

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
    if (claim.gpus == 0 && claim.preferred.empty()) {
      assignment.reason = "CPU-only claim";
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
      assignment.reason = "asked for " + asked + "; free: " + free_before + "; fell back to CPU";
      continue;
    }
    for (GpuState* gpu : chosen) {
      gpu->usage.assigned_mib += per_gpu;
      gpu->expected_calls += claim.expected_calls_per_second / static_cast<double>(chosen.size());
      assignment.devices.push_back(gpu->usage.id);
      assignment.memory_mib.push_back(per_gpu);
    }
    assignment.reason = std::string(policy_name(options.policy)) + ": asked for " + asked + "; free before: " + free_before;
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
    if (assignment.on_cpu()) {
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
  return text.str();
}

}  // namespace hepinfer::scheduler
