#pragma once
// The resource scheduler's three steps: modules state Claims, make_plan divides the devices of an
// Inventory among them once, and each module reads its Assignment (GPU ids, empty for CPU, and
// memory per GPU). Planning is deterministic and explains itself. No TensorFlow here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/core/load_options.h"

namespace hepinfer::scheduler {

struct GpuDevice {
  int id = 0;
  std::string name;
  std::int64_t total_mib = 0;
  std::int64_t free_mib = 0;  // what planning may hand out; equals total_mib for simulated GPUs
  std::string compute_capability;  // e.g. "9.0"; empty for simulated GPUs
};

// An inference server as the job found it before planning (remote::probe_servers asks them).
struct ServerOffer {
  std::string name;
  std::string url;
  TlsOptions tls;                         // passed on to the modules placed on it
  std::string token_file;                 // likewise
  bool live = false;                      // answered its readiness check
  std::vector<ServedModel> ready_models;  // of the models the claims name
  std::string note;                       // why it is not live
};

struct Inventory {
  std::vector<GpuDevice> gpus;
  std::vector<ServerOffer> servers;
};

// Whether a module's model may run on an inference server instead of locally.
enum class RemotePolicy {
  kNever,   // locally only (the default)
  kPrefer,  // on a server that has the model ready; else on the local claim (GPU, then CPU)
  kOnly,    // on a server or not at all: planning fails if none has the model ready
};
std::string_view remote_policy_name(RemotePolicy policy);               // "never", "prefer", "only"
std::optional<RemotePolicy> parse_remote_policy(std::string_view name);  // the inverse

// What one module asks for, stated in its constructor.
struct Claim {
  std::string module;
  int gpus = 1;                         // how many GPUs; 0 with no `preferred` ids: CPU only
  std::vector<int> preferred;           // exactly these GPU ids instead of a count
  std::int64_t memory_mib = 0;          // in total, split evenly over the GPUs...
  std::int64_t memory_per_gpu_mib = 0;  // ...or per GPU (give one of the two)
  bool cpu_fallback = true;             // may run on CPU when the GPUs are full
  int priority = 0;                     // higher is served first
  double expected_calls_per_second = 0;  // soft: balances load under the spread policy
  // Soft: when both are known, the plan's reason warns if a typical batch would not fit in the
  // memory per GPU (such batches will be split).
  std::int64_t typical_batch_size = 0;
  double memory_per_sample_mib = 0;
  RemotePolicy remote = RemotePolicy::kNever;
  ServedModel served_model;  // what servers serve the model as (its name is needed unless `never`)
};

enum class Policy {
  kPack,    // fill GPUs in id order
  kSpread,  // put each claim on the least loaded GPUs (assigned memory, then expected calls)
};

struct PlanOptions {
  Policy policy = Policy::kPack;
  std::int64_t headroom_mib = 0;  // kept free on every GPU (CUDA context, other GPU work)
};

// A module's answer from the plan (called DeviceOpts in hepinfer's 2019 design). Its Placement
// part (module, GPU ids, memory per GPU) is what a backend is given at load
// (LoadOptions::placement).
struct Assignment : Placement {
  std::string reason;  // why the module got this
};

struct GpuUsage {
  int id = 0;
  std::int64_t capacity_mib = 0;  // what the plan could hand out: free minus headroom
  std::int64_t headroom_mib = 0;
  std::int64_t assigned_mib = 0;
};

struct ServerUsage {
  std::string name;
  std::string url;
  bool live = false;
  std::string note;
  int modules = 0;              // whose first server this is
  double expected_calls = 0;    // their expected calls per second
};

struct Plan {
  std::vector<Assignment> assignments;  // in the order the claims were given
  std::vector<GpuUsage> gpus;           // in inventory order
  std::vector<ServerUsage> servers;     // in inventory order

  // Throws NotFoundError for a module that made no claim.
  const Assignment& for_module(const std::string& module) const;
  // One line per module and per GPU, with the reasons.
  std::string explain() const;
};

// Throws InvalidArgumentError for malformed claims (naming the module and the field) and
// ResourceExhaustedError for a claim that cannot be met and may not fall back (naming the
// module, what it asked and what was free).
Plan make_plan(const std::vector<Claim>& claims, const Inventory& inventory, const PlanOptions& options = {});

std::string_view policy_name(Policy policy);  // "pack", "spread"
std::optional<Policy> parse_policy(std::string_view name);  // the inverse; nullopt for other names

}  // namespace hepinfer::scheduler
