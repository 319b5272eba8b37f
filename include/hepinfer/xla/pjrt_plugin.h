#pragma once
// OpenXLA PJRT plugins (the runtime XLA programs run on: `xla-cpu-pjrt` for CPUs,
// `jax-cuda12-pjrt` / `jax-cuda13-pjrt` for NVIDIA GPUs), opened at run time with dlopen, and
// clients on them. This is the bottom of the XLA backend (issue 15); compiling and running
// programs build on it. No PJRT or TensorFlow header is included from here, and nothing here
// needs TensorFlow.
//
//   auto plugin = xla::PjrtPlugin::open(xla::cpu_plugin_path());
//   xla::PjrtClient client(plugin, {{"cpu_device_count", std::int64_t{1}}});
//   for (const xla::PjrtDeviceInfo& device : client.devices()) ...

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hepinfer::xla {

// The oldest PJRT C API hepinfer talks to; newer plugins are talked to through the same structs
// (PJRT's struct_size protocol keeps them compatible). Only major version 0 exists so far.
inline constexpr int kMinimumPjrtApiMinor = 81;

// Where the CPU plugin is: `explicit_path` when given, else $HEPINFER_PJRT_CPU_PLUGIN, else the
// one in the Python environment hepinfer was configured with (empty if there was none).
std::filesystem::path cpu_plugin_path(const std::filesystem::path& explicit_path = {});

// Where the NVIDIA GPU plugin is: `explicit_path` when given, else $HEPINFER_PJRT_CUDA_PLUGIN,
// else jax-cuda13-pjrt's (then jax-cuda12-pjrt's) plugin in the Python environment hepinfer was
// configured with; empty if there is none. The plugin finds the CUDA libraries through its RPATH
// (the nvidia-* wheels next to it) or LD_LIBRARY_PATH.
std::filesystem::path cuda_plugin_path(const std::filesystem::path& explicit_path = {});

struct PjrtPluginInfo {
  std::filesystem::path path;
  int api_major = 0;
  int api_minor = 0;
  // What the plugin says about itself, as text (e.g. "stablehlo_current_version": "1.13.3").
  std::map<std::string, std::string> attributes;
};

class PjrtClient;

class PjrtPlugin {
 public:
  // Opens and initialises the plugin at `library`, once per process: a plugin cannot be unloaded
  // or initialised twice, so later calls for the same file return the same object. Throws
  // FileNotFoundError (nothing there), InvalidArgumentError (not a loadable library, or not a
  // PJRT plugin: no GetPjrtApi), UnsupportedError (a PJRT API hepinfer cannot talk to), or the
  // error the plugin's initialisation returned. Thread-safe.
  static std::shared_ptr<const PjrtPlugin> open(const std::filesystem::path& library);

  const PjrtPluginInfo& info() const { return info_; }
  const void* api() const { return api_; }  // the PJRT_Api table, for the backend's own files

 private:
  friend class PjrtClient;
  PjrtPlugin(PjrtPluginInfo info, const void* api) : info_(std::move(info)), api_(api) {}
  PjrtPluginInfo info_;
  const void* api_;
  // The clients PjrtClient::shared handed out, by their options; the plugin is their one owner.
  mutable std::mutex shared_clients_mutex_;
  mutable std::map<std::string, std::weak_ptr<const PjrtClient>> shared_clients_;
};

struct PjrtDeviceInfo {
  int id = 0;
  std::string kind;         // "cpu", "NVIDIA H200", ...
  std::string description;  // the plugin's one-line description
};

// A plugin's create option; the plugin defines names and types (the CPU plugin:
// cpu_device_count; the CUDA plugins: memory_fraction, preallocate, visible_devices, allocator).
using PjrtOptionValue = std::variant<std::int64_t, bool, double, std::string, std::vector<std::int64_t>>;
using PjrtOptions = std::map<std::string, PjrtOptionValue>;

// A device's memory as its allocator counts it; the fields a plugin does not report are empty.
struct PjrtMemoryStats {
  std::int64_t bytes_in_use = 0;
  std::optional<std::int64_t> peak_bytes_in_use;
  std::optional<std::int64_t> bytes_limit;  // the most the allocator hands out (a GPU client's cap)
  std::optional<std::int64_t> pool_bytes;   // what the allocator holds from the device
};

// A PJRT client: the plugin's devices and the threads it runs work on. Not copyable; destroyed
// with its object (the plugin's threads end with it).
class PjrtClient {
 public:
  // Throws the typed error the plugin returned (e.g. FailedPreconditionError: "No visible GPU
  // devices"), naming the plugin.
  PjrtClient(std::shared_ptr<const PjrtPlugin> plugin, const PjrtOptions& options = {});
  ~PjrtClient();
  PjrtClient(const PjrtClient&) = delete;
  PjrtClient& operator=(const PjrtClient&) = delete;

  // The client of `plugin` with exactly these options that is already in use in this process, or
  // a new one: models sharing it share its threads. Thread-safe.
  static std::shared_ptr<const PjrtClient> shared(std::shared_ptr<const PjrtPlugin> plugin,
                                                  const PjrtOptions& options = {});

  std::string platform_name() const;     // "cpu", "cuda"
  std::string platform_version() const;  // e.g. the CUDA version
  std::vector<PjrtDeviceInfo> devices() const;  // the addressable ones
  // The memory of the `device_index`-th addressable device; empty if the plugin does not say (the
  // CPU plugin).
  std::optional<PjrtMemoryStats> memory_stats(std::size_t device_index = 0) const;
  const PjrtPlugin& plugin() const { return *plugin_; }
  void* native_handle() const { return client_; }  // the PJRT_Client, for the backend's own files

 private:
  std::shared_ptr<const PjrtPlugin> plugin_;
  void* client_ = nullptr;  // PJRT_Client*
};

}  // namespace hepinfer::xla
