#include "hepinfer/xla/pjrt_plugin.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string_view>
#include <type_traits>

#include "hepinfer/core/error.h"
#include "pjrt_calls.h"

namespace hepinfer::xla {
namespace {

namespace fs = std::filesystem;

const PJRT_Api* table(const PjrtPlugin& plugin) { return static_cast<const PJRT_Api*>(plugin.api()); }

// Version lists ("stablehlo_current_version": [1, 13, 3]) read as versions, "1.13.3"; other lists
// with commas.
std::string attribute_text(const PJRT_NamedValue& value) {
  const bool version = std::string_view(value.name, value.name_size).ends_with("_version");
  switch (value.type) {
    case PJRT_NamedValue_kString: return std::string(value.string_value, value.value_size);
    case PJRT_NamedValue_kInt64: return std::to_string(value.int64_value);
    case PJRT_NamedValue_kFloat: return std::to_string(value.float_value);
    case PJRT_NamedValue_kBool: return value.bool_value ? "true" : "false";
    case PJRT_NamedValue_kInt64List: {
      std::string text;
      for (std::size_t i = 0; i < value.value_size; ++i) {
        if (i > 0) text.push_back(version ? '.' : ',');
        text.append(std::to_string(value.int64_array_value[i]));
      }
      return text;
    }
  }
  return "?";
}

// The PJRT_Api table of the plugin at `path`, which stays loaded for the rest of the process (a
// plugin owns threads and static state; unloading it is not supported).
const PJRT_Api* load_api(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw FileNotFoundError("PJRT plugin '" + path.string() + "' does not exist (install it with scripts/setup.sh, "
                            "or name it with $HEPINFER_PJRT_CPU_PLUGIN)");
  }
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    throw InvalidArgumentError("PJRT plugin '" + path.string() + "' cannot be loaded: " + (why ? why : "dlopen failed"));
  }
  using GetPjrtApi = const PJRT_Api* (*)();
  const auto get_api = reinterpret_cast<GetPjrtApi>(dlsym(library, "GetPjrtApi"));
  if (get_api == nullptr) {
    throw InvalidArgumentError("'" + path.string() + "' is not a PJRT plugin: it has no GetPjrtApi");
  }
  const PJRT_Api* api = get_api();
  if (api == nullptr || api->struct_size < offsetof(PJRT_Api, PJRT_Client_Create) + sizeof(void*)) {
    throw InvalidArgumentError("PJRT plugin '" + path.string() + "' returned no usable API table");
  }
  const int major = api->pjrt_api_version.major_version, minor = api->pjrt_api_version.minor_version;
  if (major != PJRT_API_MAJOR || minor < kMinimumPjrtApiMinor) {
    throw UnsupportedError("PJRT plugin '" + path.string() + "' speaks PJRT C API " + std::to_string(major) + "." +
                           std::to_string(minor) + "; hepinfer needs " + std::to_string(PJRT_API_MAJOR) + "." +
                           std::to_string(kMinimumPjrtApiMinor) + " or a later " + std::to_string(PJRT_API_MAJOR) +
                           ".x");
  }
  return api;
}

PjrtPluginInfo describe(const fs::path& path, const PJRT_Api* api) {
  PjrtPluginInfo info{.path = path,
                      .api_major = api->pjrt_api_version.major_version,
                      .api_minor = api->pjrt_api_version.minor_version};
  if (HEPINFER_PJRT_HAS(api, PJRT_Plugin_Attributes)) {
    auto args = HEPINFER_PJRT_ARGS(PJRT_Plugin_Attributes_Args);
    detail::throw_if_error(api, api->PJRT_Plugin_Attributes(&args), "PJRT plugin '" + path.string() + "' attributes");
    for (std::size_t i = 0; i < args.num_attributes; ++i) {
      const PJRT_NamedValue& value = args.attributes[i];
      info.attributes[std::string(value.name, value.name_size)] = attribute_text(value);
    }
  }
  return info;
}

std::vector<PJRT_NamedValue> named_values(const PjrtOptions& options) {
  std::vector<PJRT_NamedValue> values;
  for (const auto& [name, option] : options) {
    auto value = HEPINFER_PJRT_ARGS(PJRT_NamedValue);
    value.name = name.c_str();
    value.name_size = name.size();
    value.value_size = 1;
    if (const auto* integer = std::get_if<std::int64_t>(&option)) {
      value.type = PJRT_NamedValue_kInt64;
      value.int64_value = *integer;
    } else if (const auto* flag = std::get_if<bool>(&option)) {
      value.type = PJRT_NamedValue_kBool;
      value.bool_value = *flag;
    } else if (const auto* number = std::get_if<double>(&option)) {
      value.type = PJRT_NamedValue_kFloat;
      value.float_value = static_cast<float>(*number);
    } else if (const auto* text = std::get_if<std::string>(&option)) {
      value.type = PJRT_NamedValue_kString;
      value.string_value = text->c_str();
      value.value_size = text->size();
    } else {
      const auto& list = std::get<std::vector<std::int64_t>>(option);
      value.type = PJRT_NamedValue_kInt64List;
      value.int64_array_value = list.data();
      value.value_size = list.size();
    }
    values.push_back(value);
  }
  return values;
}

}  // namespace

fs::path cpu_plugin_path(const fs::path& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* from_environment = std::getenv("HEPINFER_PJRT_CPU_PLUGIN"); from_environment && *from_environment) {
    return from_environment;
  }
  return HEPINFER_PJRT_CPU_PLUGIN_DEFAULT;
}

fs::path cuda_plugin_path(const fs::path& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* from_environment = std::getenv("HEPINFER_PJRT_CUDA_PLUGIN"); from_environment && *from_environment) {
    return from_environment;
  }
  // The CPU plugin's package is site-packages/xla_plugins/xla_cpu_pjrt; JAX's CUDA plugins are
  // site-packages/jax_plugins/xla_cuda13 (and 12).
  const fs::path site_packages = fs::path(HEPINFER_PJRT_CPU_PLUGIN_DEFAULT).parent_path().parent_path().parent_path();
  if (site_packages.empty()) return {};
  for (const char* package : {"xla_cuda13", "xla_cuda12"}) {
    const fs::path candidate = site_packages / "jax_plugins" / package / "xla_cuda_plugin.so";
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  return {};
}

std::shared_ptr<const PjrtPlugin> PjrtPlugin::open(const fs::path& library) {
  // Plugins are process-wide by nature (loaded once, initialised once); this registry is their
  // one owner.
  static std::mutex mutex;
  static auto* const opened = new std::map<fs::path, std::shared_ptr<const PjrtPlugin>>();
  std::error_code ec;
  const fs::path key = fs::weakly_canonical(library, ec);
  const std::lock_guard lock(mutex);
  if (const auto found = opened->find(key); found != opened->end()) return found->second;
  const PJRT_Api* api = load_api(library);
  if (HEPINFER_PJRT_HAS(api, PJRT_Plugin_Initialize)) {
    auto args = HEPINFER_PJRT_ARGS(PJRT_Plugin_Initialize_Args);
    detail::throw_if_error(api, api->PJRT_Plugin_Initialize(&args), "initialising PJRT plugin '" + library.string() + "'");
  }
  std::shared_ptr<const PjrtPlugin> plugin(new PjrtPlugin(describe(library, api), api));
  opened->emplace(key, plugin);
  return plugin;
}

PjrtClient::PjrtClient(std::shared_ptr<const PjrtPlugin> plugin, const PjrtOptions& options) : plugin_(std::move(plugin)) {
  if (!plugin_) throw InvalidArgumentError("a PJRT client needs a plugin");
  const PJRT_Api* api = table(*plugin_);
  const std::vector<PJRT_NamedValue> values = named_values(options);
  auto args = HEPINFER_PJRT_ARGS(PJRT_Client_Create_Args);
  args.create_options = values.data();
  args.num_options = values.size();
  detail::throw_if_error(api, api->PJRT_Client_Create(&args),
                         "creating a client of PJRT plugin '" + plugin_->info().path.string() + "'");
  client_ = args.client;
}

PjrtClient::~PjrtClient() {
  if (client_ == nullptr) return;
  const PJRT_Api* api = table(*plugin_);
  auto args = HEPINFER_PJRT_ARGS(PJRT_Client_Destroy_Args);
  args.client = static_cast<PJRT_Client*>(client_);
  try {
    detail::throw_if_error(api, api->PJRT_Client_Destroy(&args), "destroying a PJRT client");
  } catch (const Error&) {
    // Nothing to do about a failed destruction; the error object itself was released.
  }
}

namespace {

// The options as one text, a key for clients with exactly these options.
std::string options_key(const PjrtOptions& options) {
  std::string key;
  for (const auto& [name, option] : options) {
    key += name + "=" + std::to_string(option.index()) + ":";
    std::visit(
        [&](const auto& value) {
          using Value = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<Value, std::string>) {
            key += std::to_string(value.size()) + ":" + value;
          } else if constexpr (std::is_same_v<Value, std::vector<std::int64_t>>) {
            for (const std::int64_t item : value) key += std::to_string(item) + ",";
          } else {
            key += std::to_string(value);
          }
        },
        option);
    key += ";";
  }
  return key;
}

}  // namespace

std::shared_ptr<const PjrtClient> PjrtClient::shared(std::shared_ptr<const PjrtPlugin> plugin,
                                                     const PjrtOptions& options) {
  if (!plugin) throw InvalidArgumentError("a PJRT client needs a plugin");
  const std::string key = options_key(options);
  const std::lock_guard lock(plugin->shared_clients_mutex_);
  if (auto existing = plugin->shared_clients_[key].lock()) return existing;
  const PjrtPlugin& owner = *plugin;
  auto client = std::make_shared<const PjrtClient>(std::move(plugin), options);
  owner.shared_clients_[key] = client;
  return client;
}

std::optional<PjrtMemoryStats> PjrtClient::memory_stats(std::size_t device_index) const {
  const PJRT_Api* api = table(*plugin_);
  if (!HEPINFER_PJRT_HAS(api, PJRT_Device_MemoryStats)) return std::nullopt;
  auto list = HEPINFER_PJRT_ARGS(PJRT_Client_AddressableDevices_Args);
  list.client = static_cast<PJRT_Client*>(client_);
  detail::throw_if_error(api, api->PJRT_Client_AddressableDevices(&list), "listing a PJRT client's devices");
  if (device_index >= list.num_addressable_devices) {
    throw InvalidArgumentError("PJRT client of '" + plugin_->info().path.string() + "' has " +
                          std::to_string(list.num_addressable_devices) + " device(s), not " +
                          std::to_string(device_index + 1));
  }
  auto args = HEPINFER_PJRT_ARGS(PJRT_Device_MemoryStats_Args);
  args.device = list.addressable_devices[device_index];
  if (PJRT_Error* error = api->PJRT_Device_MemoryStats(&args)) {
    // The CPU plugin answers UNIMPLEMENTED: no statistics, which is not a failure.
    try {
      detail::throw_if_error(api, error, "reading a PJRT device's memory");
    } catch (const UnsupportedError&) {
      return std::nullopt;
    }
  }
  PjrtMemoryStats stats{.bytes_in_use = args.bytes_in_use};
  if (args.peak_bytes_in_use_is_set) stats.peak_bytes_in_use = args.peak_bytes_in_use;
  if (args.bytes_limit_is_set) stats.bytes_limit = args.bytes_limit;
  if (args.pool_bytes_is_set) stats.pool_bytes = args.pool_bytes;
  return stats;
}

std::string PjrtClient::platform_name() const {
  const PJRT_Api* api = table(*plugin_);
  auto args = HEPINFER_PJRT_ARGS(PJRT_Client_PlatformName_Args);
  args.client = static_cast<PJRT_Client*>(client_);
  detail::throw_if_error(api, api->PJRT_Client_PlatformName(&args), "asking a PJRT client for its platform");
  return std::string(args.platform_name, args.platform_name_size);
}

std::string PjrtClient::platform_version() const {
  const PJRT_Api* api = table(*plugin_);
  auto args = HEPINFER_PJRT_ARGS(PJRT_Client_PlatformVersion_Args);
  args.client = static_cast<PJRT_Client*>(client_);
  detail::throw_if_error(api, api->PJRT_Client_PlatformVersion(&args), "asking a PJRT client for its version");
  return std::string(args.platform_version, args.platform_version_size);
}

std::vector<PjrtDeviceInfo> PjrtClient::devices() const {
  const PJRT_Api* api = table(*plugin_);
  auto list = HEPINFER_PJRT_ARGS(PJRT_Client_AddressableDevices_Args);
  list.client = static_cast<PJRT_Client*>(client_);
  detail::throw_if_error(api, api->PJRT_Client_AddressableDevices(&list), "listing a PJRT client's devices");
  std::vector<PjrtDeviceInfo> devices;
  for (std::size_t i = 0; i < list.num_addressable_devices; ++i) {
    auto description = HEPINFER_PJRT_ARGS(PJRT_Device_GetDescription_Args);
    description.device = list.addressable_devices[i];
    detail::throw_if_error(api, api->PJRT_Device_GetDescription(&description), "describing a PJRT device");
    auto id = HEPINFER_PJRT_ARGS(PJRT_DeviceDescription_Id_Args);
    id.device_description = description.device_description;
    detail::throw_if_error(api, api->PJRT_DeviceDescription_Id(&id), "reading a PJRT device's id");
    auto kind = HEPINFER_PJRT_ARGS(PJRT_DeviceDescription_Kind_Args);
    kind.device_description = description.device_description;
    detail::throw_if_error(api, api->PJRT_DeviceDescription_Kind(&kind), "reading a PJRT device's kind");
    auto text = HEPINFER_PJRT_ARGS(PJRT_DeviceDescription_DebugString_Args);
    text.device_description = description.device_description;
    detail::throw_if_error(api, api->PJRT_DeviceDescription_DebugString(&text), "describing a PJRT device");
    devices.push_back({id.id, std::string(kind.device_kind, kind.device_kind_size),
                       std::string(text.debug_string, text.debug_string_size)});
  }
  return devices;
}

}  // namespace hepinfer::xla
