// GPU discovery through the driver API: machines without a driver, libraries that are not a
// driver, the CUDA toolkit's stub, and a stand-in driver with two GPUs.

#include "hepinfer/scheduler/gpu_discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace hepinfer::scheduler {
namespace {

using ::testing::HasSubstr;

TEST(GpuDiscovery, MachineWithoutDriverHasZeroGpusAndSaysWhy) {
  const Discovery discovery = discover_gpus({.driver_library = "libhepinfer_no_such_driver.so.1"});
  EXPECT_TRUE(discovery.inventory.gpus.empty());
  EXPECT_THAT(discovery.note, HasSubstr("no NVIDIA driver"));
  EXPECT_THAT(discovery.note, HasSubstr("libhepinfer_no_such_driver.so.1"));
  EXPECT_TRUE(discovery.driver_version.empty());
}

TEST(GpuDiscovery, ALibraryThatIsNotADriverIsReportedNotLoaded) {
  const Discovery discovery = discover_gpus({.driver_library = "libc.so.6"});
  EXPECT_TRUE(discovery.inventory.gpus.empty());
  EXPECT_THAT(discovery.note, HasSubstr("not a usable CUDA driver"));
  EXPECT_THAT(discovery.note, HasSubstr("cuInit"));
}

TEST(GpuDiscovery, TheToolkitStubIsNotMistakenForADriver) {
  const std::filesystem::path stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
  if (!std::filesystem::exists(stub)) GTEST_SKIP() << "no CUDA toolkit stub at " << stub;
  const Discovery discovery = discover_gpus({.driver_library = stub.string()});
  EXPECT_TRUE(discovery.inventory.gpus.empty());
  EXPECT_THAT(discovery.note, HasSubstr("CUDA_ERROR_STUB_LIBRARY"));
}

TEST(GpuDiscovery, ReadsEveryPropertyFromTheDriver) {
  const Discovery discovery = discover_gpus({.driver_library = FAKE_CUDA_DRIVER});
  ASSERT_EQ(discovery.inventory.gpus.size(), 2u) << discovery.note;
  EXPECT_TRUE(discovery.note.empty()) << discovery.note;
  EXPECT_EQ(discovery.driver_version, "12.4");
  const GpuDevice& first = discovery.inventory.gpus[0];
  EXPECT_EQ(first.id, 0);
  EXPECT_EQ(first.name, "Fake H100 80GB HBM3");
  EXPECT_EQ(first.total_mib, 85'520'809'984 / (1024 * 1024));
  EXPECT_EQ(first.free_mib, 84'000'000'000 / (1024 * 1024));
  EXPECT_EQ(first.compute_capability, "9.0");
  const GpuDevice& second = discovery.inventory.gpus[1];
  EXPECT_EQ(second.id, 1);
  EXPECT_EQ(second.compute_capability, "8.0");
  EXPECT_EQ(second.free_mib, 40'000'000'000 / (1024 * 1024));
}

TEST(GpuDiscovery, WithoutTheFreeMemoryQueryFreeEqualsTotal) {
  const Discovery discovery = discover_gpus({.driver_library = FAKE_CUDA_DRIVER, .query_free_memory = false});
  ASSERT_EQ(discovery.inventory.gpus.size(), 2u);
  for (const GpuDevice& gpu : discovery.inventory.gpus) EXPECT_EQ(gpu.free_mib, gpu.total_mib);
}

TEST(GpuDiscovery, ADriverThatSeesNoDeviceMeansZeroGpus) {
  ::setenv("HEPINFER_FAKE_CUDA_INIT", "100", 1);
  const Discovery discovery = discover_gpus({.driver_library = FAKE_CUDA_DRIVER});
  ::unsetenv("HEPINFER_FAKE_CUDA_INIT");
  EXPECT_TRUE(discovery.inventory.gpus.empty());
  EXPECT_THAT(discovery.note, HasSubstr("sees no GPU"));
}

TEST(GpuDiscovery, AFailingDriverIsNamedWithItsError) {
  ::setenv("HEPINFER_FAKE_CUDA_INIT", "999", 1);
  const Discovery discovery = discover_gpus({.driver_library = FAKE_CUDA_DRIVER});
  ::unsetenv("HEPINFER_FAKE_CUDA_INIT");
  EXPECT_TRUE(discovery.inventory.gpus.empty());
  EXPECT_THAT(discovery.note, HasSubstr("failed to initialise"));
  EXPECT_THAT(discovery.note, HasSubstr("999"));
}

TEST(GpuDiscovery, ReportsCudaVisibleDevices) {
  ::setenv("CUDA_VISIBLE_DEVICES", "1,0", 1);
  EXPECT_EQ(discover_gpus({.driver_library = "libhepinfer_no_such_driver.so.1"}).cuda_visible_devices, "1,0");
  ::unsetenv("CUDA_VISIBLE_DEVICES");
  EXPECT_EQ(discover_gpus({.driver_library = "libhepinfer_no_such_driver.so.1"}).cuda_visible_devices, "(unset)");
}

TEST(GpuDiscovery, DiscoveredGpusCanBePlannedOn) {
  const Discovery discovery = discover_gpus({.driver_library = FAKE_CUDA_DRIVER});
  const Plan plan = make_plan({{.module = "tagger", .gpus = 2, .memory_per_gpu_mib = 30'000}}, discovery.inventory,
                              {.headroom_mib = 1024});
  EXPECT_EQ(plan.for_module("tagger").devices, (std::vector<int>{0, 1}));
  EXPECT_EQ(plan.gpus[1].capacity_mib, 40'000'000'000 / (1024 * 1024) - 1024) << "free memory, less headroom";
}

}  // namespace
}  // namespace hepinfer::scheduler
