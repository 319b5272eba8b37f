#pragma once
// TensorFlow's process-wide GPU settings, derived from the scheduler's plan. TF fixes its GPU
// allocators with the first session of the process, so the plan must be applied before any
// hepinfer session exists:
//
//   scheduler::ResourceScheduler scheduler(inventory, options, tf::runtime_hooks());
//   // ... module constructors claim; loading a model now is refused (FailedPreconditionError)
//   scheduler.make_plan();  // the hooks apply the plan to TensorFlow
//   auto model = tf::load_model(path, {.placement = ticket.assignment()});
//
// Mapping: only GPUs that received a module are visible (visible_device_list, by CUDA ordinal);
// on each, one TF virtual device per module placed there, in plan order, with memory_limit_mb
// equal to the module's assigned memory; allow_growth inside those limits. TF numbers the
// logical GPUs GPU by GPU, so a module's session is pinned to its own /device:GPU:k. Sessions of
// CPU-placed modules get the same GPU options but no GPU device.
// This header does not include TensorFlow headers.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/scheduler/plan.h"
#include "hepinfer/scheduler/resource_scheduler.h"

namespace hepinfer::tf {

// One TF logical GPU: a virtual device on a physical GPU, owned by one module.
struct VirtualGpu {
  std::string module;
  int gpu_id = 0;         // the physical GPU (CUDA ordinal)
  int logical_index = 0;  // k in /device:GPU:k
  std::int64_t memory_limit_mib = 0;
};

struct GpuSettings {
  std::vector<int> visible_gpu_ids;                          // visible_device_list, in this order
  std::vector<std::vector<std::int64_t>> memory_limits_mib;  // per visible GPU, per virtual device
  std::vector<VirtualGpu> virtual_gpus;                      // in logical order
  bool allow_growth = true;

  // The TF device of the module's `gpu_index`-th GPU, "/device:GPU:k"; "/device:CPU:0" for a
  // module on CPU. Throws NotFoundError for a module or GPU index the plan does not have.
  std::string device_for(const Placement& placement, std::size_t gpu_index = 0) const;
  std::string visible_device_list() const;  // e.g. "0,2"
};

GpuSettings gpu_settings_for(const scheduler::Plan& plan);

// The ConfigProto hepinfer gives a session placed on `device` ("/device:GPU:k", "/device:CPU:0"
// or empty for TF's default placement), in TF's text format: for inspection and tests.
std::string session_config_text(const GpuSettings& settings, std::string_view device);

// From now on, creating a session throws FailedPreconditionError until apply_device_plan.
// Throws FailedPreconditionError if a session exists already (it fixed TF's GPU settings to
// TF's defaults) or a plan was applied already.
void await_device_plan();
// Fixes every later session's GPU options from `plan`. Same errors as await_device_plan.
void apply_device_plan(const scheduler::Plan& plan);
// Hooks for ResourceScheduler: await on the first claim, apply when the plan is made.
scheduler::SchedulerHooks runtime_hooks();

}  // namespace hepinfer::tf
