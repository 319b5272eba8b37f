#include "hepinfer/tensorflow/device_plan.h"

#include <algorithm>
#include <map>

#include "google/protobuf/text_format.h"
#include "hepinfer/core/error.h"
#include "runtime_state.h"
#include "session_config.h"

namespace hepinfer::tf {
namespace {

constexpr std::string_view kCpuDevice = "/device:CPU:0";

}  // namespace

GpuSettings gpu_settings_for(const scheduler::Plan& plan) {
  // Per physical GPU, the modules placed there in plan order.
  std::map<int, std::vector<std::pair<std::string, std::int64_t>>> modules_on_gpu;
  for (const scheduler::Assignment& assignment : plan.assignments) {
    for (std::size_t i = 0; i < assignment.devices.size(); ++i) {
      modules_on_gpu[assignment.devices[i]].emplace_back(assignment.module, assignment.memory_mib.at(i));
    }
  }
  GpuSettings settings;
  int logical = 0;
  for (const auto& [gpu_id, modules] : modules_on_gpu) {
    settings.visible_gpu_ids.push_back(gpu_id);
    auto& limits = settings.memory_limits_mib.emplace_back();
    for (const auto& [module, memory_mib] : modules) {
      limits.push_back(memory_mib);
      settings.virtual_gpus.push_back({module, gpu_id, logical++, memory_mib});
    }
  }
  return settings;
}

std::string GpuSettings::device_for(const Placement& placement, std::size_t gpu_index) const {
  if (placement.on_cpu()) return std::string(kCpuDevice);
  if (gpu_index >= placement.devices.size()) {
    throw NotFoundError("module '" + placement.module + "' has " + std::to_string(placement.devices.size()) +
                        " GPU(s); there is no GPU index " + std::to_string(gpu_index));
  }
  const int gpu_id = placement.devices[gpu_index];
  for (const VirtualGpu& virtual_gpu : virtual_gpus) {
    if (virtual_gpu.module == placement.module && virtual_gpu.gpu_id == gpu_id) {
      return "/device:GPU:" + std::to_string(virtual_gpu.logical_index);
    }
  }
  throw NotFoundError("module '" + placement.module + "' has no virtual device on GPU " + std::to_string(gpu_id) +
                      " in the applied device plan (was the assignment taken from another plan?)");
}

std::string GpuSettings::visible_device_list() const {
  std::string list;
  for (int id : visible_gpu_ids) {
    if (!list.empty()) list.push_back(',');
    list.append(std::to_string(id));
  }
  return list;
}

tensorflow::ConfigProto make_session_config(const GpuSettings* settings, std::string_view device) {
  tensorflow::ConfigProto config;
  // TF creates its global inter-op and intra-op pools with the first session of the process and
  // never lets go of them. hepinfer hands every run its own pools, so TF's are kept to the
  // minimum it accepts: one thread each, idle.
  config.set_inter_op_parallelism_threads(1);
  config.set_intra_op_parallelism_threads(1);
  config.set_use_per_session_threads(false);
  // Ops without a kernel for the session's GPU (string ops, some integer ops) run on the CPU.
  config.set_allow_soft_placement(true);
  // Inline the function calls SavedModels are made of (StatefulPartitionedCall), so that a run is
  // one flat executor rather than an executor per call; numerics are unchanged.
  config.mutable_graph_options()->mutable_optimizer_options()->set_do_function_inlining(true);

  const bool on_cpu = device == kCpuDevice;
  if (settings != nullptr) {
    tensorflow::GPUOptions& gpu = *config.mutable_gpu_options();
    gpu.set_visible_device_list(settings->visible_device_list());
    gpu.set_allow_growth(settings->allow_growth);
    for (const auto& limits : settings->memory_limits_mib) {
      auto& virtual_devices = *gpu.mutable_experimental()->add_virtual_devices();
      for (std::int64_t limit : limits) virtual_devices.add_memory_limit_mb(static_cast<float>(limit));
    }
    // An empty visible_device_list means "every GPU" to TF; a plan without GPU modules means none.
    if (settings->visible_gpu_ids.empty()) (*config.mutable_device_count())["GPU"] = 0;
  }
  if (on_cpu) (*config.mutable_device_count())["GPU"] = 0;
  return config;
}

std::string session_config_text(const GpuSettings& settings, std::string_view device) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(make_session_config(&settings, device), &text);
  return text;
}

void await_device_plan() { RuntimeState::instance().await_device_plan(); }

void apply_device_plan(const scheduler::Plan& plan) {
  RuntimeState::instance().apply_gpu_settings(gpu_settings_for(plan));
}

scheduler::SchedulerHooks runtime_hooks() {
  return {[] { await_device_plan(); }, [](const scheduler::Plan& plan) { apply_device_plan(plan); }};
}

}  // namespace hepinfer::tf
