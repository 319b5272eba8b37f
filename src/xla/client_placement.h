#pragma once
// Which PJRT client a model runs on, from the placement the device plan gave its module: a GPU
// placement gets its own client of the CUDA plugin, seeing only that GPU and capped at the
// module's memory; everything else, and a GPU placement this process cannot follow, shares the
// process's CPU client.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hepinfer/core/load_options.h"
#include "hepinfer/xla/pjrt_plugin.h"
#include "hepinfer/xla/xla_model.h"

namespace hepinfer::xla::detail {

struct PlacedClient {
  std::shared_ptr<const PjrtClient> client;
  std::optional<int> gpu;      // the CUDA ordinal; none: the CPU plugin
  std::string device;          // "PJRT cuda:0 (NVIDIA H200, cap 2048 MiB)", "PJRT cpu:0"
  std::string placement_note;  // why a GPU placement runs on the CPU; empty otherwise
  std::int64_t cap_bytes = 0;  // what the client's allocator hands out at most; 0: no cap
};

// Throws the plugins' typed errors where hepinfer was told explicitly which plugin to use (an
// argument or an environment variable); a GPU that is not there (a simulated inventory, no GPU,
// no CUDA plugin installed) is a CPU client with a note instead, as the TF backend does.
PlacedClient place_client(const LoadOptions& options, const XlaOptions& plugins, const std::string& model);

}  // namespace hepinfer::xla::detail
