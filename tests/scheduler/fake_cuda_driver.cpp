// A stand-in for the NVIDIA driver library, for testing discover_gpus' use of the driver API on
// machines without a GPU: two GPUs with fixed properties. HEPINFER_FAKE_CUDA_INIT sets the
// result cuInit returns (e.g. 100, CUDA_ERROR_NO_DEVICE). Real drivers are exercised on the GPU
// machines (docs/gpu-validation.md).

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace {

struct FakeGpu {
  const char* name;
  std::size_t total_bytes, free_bytes;
  int major, minor;
};
constexpr FakeGpu kGpus[] = {{"Fake H100 80GB HBM3", 85'520'809'984, 84'000'000'000, 9, 0},
                             {"Fake A100-SXM4-40GB", 42'505'273'344, 40'000'000'000, 8, 0}};
constexpr int kGpuCount = 2;
int current_device = -1;  // the device whose primary context is pushed

}  // namespace

extern "C" {

int cuInit(unsigned int) {
  const char* result = std::getenv("HEPINFER_FAKE_CUDA_INIT");
  return result != nullptr ? std::atoi(result) : 0;
}
int cuDriverGetVersion(int* version) { return *version = 12040, 0; }
int cuDeviceGetCount(int* count) { return *count = kGpuCount, 0; }
int cuDeviceGet(int* device, int ordinal) { return ordinal < kGpuCount ? (*device = ordinal, 0) : 101; }
int cuDeviceGetName(char* name, int length, int device) {
  std::strncpy(name, kGpus[device].name, static_cast<std::size_t>(length));
  return 0;
}
int cuDeviceTotalMem_v2(std::size_t* bytes, int device) { return *bytes = kGpus[device].total_bytes, 0; }
int cuDeviceGetAttribute(int* value, int attribute, int device) {
  if (attribute == 75) return *value = kGpus[device].major, 0;
  if (attribute == 76) return *value = kGpus[device].minor, 0;
  return 1;
}
int cuDevicePrimaryCtxRetain(void** context, int device) {
  *context = const_cast<FakeGpu*>(&kGpus[device]);
  return 0;
}
int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
int cuCtxPushCurrent_v2(void* context) {
  current_device = static_cast<int>(static_cast<const FakeGpu*>(context) - kGpus);
  return 0;
}
int cuCtxPopCurrent_v2(void** context) {
  *context = current_device >= 0 ? const_cast<FakeGpu*>(&kGpus[current_device]) : nullptr;
  current_device = -1;
  return 0;
}
int cuMemGetInfo_v2(std::size_t* free_bytes, std::size_t* total_bytes) {
  if (current_device < 0) return 201;  // CUDA_ERROR_INVALID_CONTEXT
  *free_bytes = kGpus[current_device].free_bytes;
  *total_bytes = kGpus[current_device].total_bytes;
  return 0;
}
int cuGetErrorName(int error, const char** name) {
  *name = error == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
  return 0;
}

}  // extern "C"
