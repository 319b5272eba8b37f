#include "hepinfer/scheduler/gpu_discovery.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace hepinfer::scheduler {
namespace {

// The few driver API entry points discovery needs, declared here rather than taken from cuda.h
// so that hepinfer builds on machines without the CUDA toolkit. Types follow the driver ABI:
// CUresult and CUdevice are ints, CUcontext an opaque pointer.
using CuResult = int;
using CuDevice = int;
using CuContext = void*;
constexpr CuResult kCudaSuccess = 0;
constexpr CuResult kCudaErrorStubLibrary = 34;
constexpr CuResult kCudaErrorNoDevice = 100;
constexpr int kAttributeComputeCapabilityMajor = 75;
constexpr int kAttributeComputeCapabilityMinor = 76;
constexpr std::int64_t kMiB = 1024 * 1024;

struct DriverApi {
  CuResult (*init)(unsigned int) = nullptr;
  CuResult (*driver_get_version)(int*) = nullptr;
  CuResult (*device_get_count)(int*) = nullptr;
  CuResult (*device_get)(CuDevice*, int) = nullptr;
  CuResult (*device_get_name)(char*, int, CuDevice) = nullptr;
  CuResult (*device_total_mem)(std::size_t*, CuDevice) = nullptr;
  CuResult (*device_get_attribute)(int*, int, CuDevice) = nullptr;
  CuResult (*primary_ctx_retain)(CuContext*, CuDevice) = nullptr;
  CuResult (*primary_ctx_release)(CuDevice) = nullptr;
  CuResult (*ctx_push_current)(CuContext) = nullptr;
  CuResult (*ctx_pop_current)(CuContext*) = nullptr;
  CuResult (*mem_get_info)(std::size_t*, std::size_t*) = nullptr;
  CuResult (*get_error_name)(CuResult, const char**) = nullptr;
};

struct LibraryCloser {
  void operator()(void* handle) const { dlclose(handle); }
};
using LibraryHandle = std::unique_ptr<void, LibraryCloser>;

template <typename Function>
bool bind(void* library, const char* symbol, Function& function, std::string& missing) {
  function = reinterpret_cast<Function>(dlsym(library, symbol));
  if (function == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(symbol);
  return function != nullptr;
}

// Binds every entry point; returns the names of those the library lacks.
std::string bind_all(void* library, DriverApi& api) {
  std::string missing;
  bind(library, "cuInit", api.init, missing);
  bind(library, "cuDriverGetVersion", api.driver_get_version, missing);
  bind(library, "cuDeviceGetCount", api.device_get_count, missing);
  bind(library, "cuDeviceGet", api.device_get, missing);
  bind(library, "cuDeviceGetName", api.device_get_name, missing);
  bind(library, "cuDeviceTotalMem_v2", api.device_total_mem, missing);
  bind(library, "cuDeviceGetAttribute", api.device_get_attribute, missing);
  bind(library, "cuDevicePrimaryCtxRetain", api.primary_ctx_retain, missing);
  bind(library, "cuDevicePrimaryCtxRelease_v2", api.primary_ctx_release, missing);
  bind(library, "cuCtxPushCurrent_v2", api.ctx_push_current, missing);
  bind(library, "cuCtxPopCurrent_v2", api.ctx_pop_current, missing);
  bind(library, "cuMemGetInfo_v2", api.mem_get_info, missing);
  bind(library, "cuGetErrorName", api.get_error_name, missing);
  return missing;
}

std::string error_text(const DriverApi& api, CuResult result) {
  if (result == kCudaErrorStubLibrary) {
    return "CUDA_ERROR_STUB_LIBRARY (34): this is the CUDA toolkit's stub libcuda, not an NVIDIA driver";
  }
  const char* name = nullptr;
  if (api.get_error_name != nullptr && api.get_error_name(result, &name) == kCudaSuccess && name != nullptr) {
    return std::string(name) + " (" + std::to_string(result) + ")";
  }
  return "CUDA error " + std::to_string(result);
}

// Free memory as a context on the device sees it, or -1 with `note` saying why not.
std::int64_t free_mib_of(const DriverApi& api, CuDevice device, std::string& note) {
  CuContext context = nullptr;
  CuResult result = api.primary_ctx_retain(&context, device);
  if (result != kCudaSuccess) {
    note = "free memory unknown (" + error_text(api, result) + " creating a context)";
    return -1;
  }
  std::size_t free_bytes = 0, total_bytes = 0;
  result = api.ctx_push_current(context);
  if (result == kCudaSuccess) {
    result = api.mem_get_info(&free_bytes, &total_bytes);
    CuContext popped = nullptr;
    api.ctx_pop_current(&popped);
  }
  api.primary_ctx_release(device);
  if (result != kCudaSuccess) {
    note = "free memory unknown (" + error_text(api, result) + ")";
    return -1;
  }
  return static_cast<std::int64_t>(free_bytes) / kMiB;
}

}  // namespace

Discovery discover_gpus(const DiscoveryOptions& options) {
  Discovery discovery;
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  discovery.cuda_visible_devices = visible == nullptr ? "(unset)" : visible;

  LibraryHandle library(dlopen(options.driver_library.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!library) {
    const char* why = dlerror();
    discovery.note = "no NVIDIA driver (" + (why ? std::string(why) : "cannot open " + options.driver_library) + ")";
    return discovery;
  }
  DriverApi api;
  if (const std::string missing = bind_all(library.get(), api); !missing.empty()) {
    discovery.note = options.driver_library + " is not a usable CUDA driver: it lacks " + missing;
    return discovery;
  }
  int version = 0;
  if (api.driver_get_version(&version) == kCudaSuccess && version > 0) {
    discovery.driver_version = std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
  }
  if (const CuResult result = api.init(0); result != kCudaSuccess) {
    discovery.note = result == kCudaErrorNoDevice
                         ? "the driver sees no GPU (CUDA_VISIBLE_DEVICES=" + discovery.cuda_visible_devices + ")"
                         : "the CUDA driver failed to initialise: " + error_text(api, result);
    return discovery;
  }
  int count = 0;
  if (const CuResult result = api.device_get_count(&count); result != kCudaSuccess) {
    discovery.note = "cannot count GPUs: " + error_text(api, result);
    return discovery;
  }
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    CuDevice device = 0;
    std::size_t total_bytes = 0;
    char name[256] = {};
    int major = 0, minor = 0;
    if (api.device_get(&device, ordinal) != kCudaSuccess ||
        api.device_get_name(name, static_cast<int>(sizeof(name) - 1), device) != kCudaSuccess ||
        api.device_total_mem(&total_bytes, device) != kCudaSuccess ||
        api.device_get_attribute(&major, kAttributeComputeCapabilityMajor, device) != kCudaSuccess ||
        api.device_get_attribute(&minor, kAttributeComputeCapabilityMinor, device) != kCudaSuccess) {
      discovery.note += (discovery.note.empty() ? "" : "; ") + std::string("GPU ") + std::to_string(ordinal) +
                        " could not be queried and is left out";
      continue;
    }
    GpuDevice gpu;
    gpu.id = ordinal;
    gpu.name = name;
    gpu.total_mib = static_cast<std::int64_t>(total_bytes) / kMiB;
    gpu.free_mib = gpu.total_mib;
    gpu.compute_capability = std::to_string(major) + "." + std::to_string(minor);
    if (options.query_free_memory) {
      std::string why;
      const std::int64_t free_mib = free_mib_of(api, device, why);
      if (free_mib >= 0) {
        gpu.free_mib = std::min(free_mib, gpu.total_mib);
      } else {
        discovery.note += (discovery.note.empty() ? "" : "; ") + ("GPU " + std::to_string(ordinal) + ": " + why);
      }
    }
    discovery.inventory.gpus.push_back(gpu);
  }
  if (count == 0 && discovery.note.empty()) discovery.note = "the driver reports zero GPUs";
  return discovery;
}

}  // namespace hepinfer::scheduler
