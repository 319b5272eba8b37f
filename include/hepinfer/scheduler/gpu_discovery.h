#pragma once
// The GPUs of this machine, found at run time through the NVIDIA driver API. The driver library
// is opened with dlopen, so hepinfer starts and plans normally on machines without a GPU or a
// driver: they report zero GPUs and say why. Ids are CUDA device ordinals as this process sees
// them, i.e. after CUDA_VISIBLE_DEVICES, which is also how TensorFlow's visible_device_list
// counts.

#include <string>

#include "hepinfer/scheduler/plan.h"

namespace hepinfer::scheduler {

struct DiscoveryOptions {
  // The driver library to open; tests point it at other files.
  std::string driver_library = "libcuda.so.1";
  // Free memory needs a CUDA context on each GPU (created and released again); without it,
  // free_mib is reported equal to total_mib.
  bool query_free_memory = true;
};

struct Discovery {
  Inventory inventory;
  std::string driver_version;        // e.g. "12.4"; empty without a driver
  std::string cuda_visible_devices;  // the variable's value; "(unset)" when not set
  std::string note;                  // why there are no GPUs, or what could not be queried
};

// Never throws for a missing or failing driver: that is a machine with zero GPUs and a note.
Discovery discover_gpus(const DiscoveryOptions& options = {});

}  // namespace hepinfer::scheduler
