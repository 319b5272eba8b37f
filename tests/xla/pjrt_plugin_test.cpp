// PJRT plugins through the real CPU plugin (xla-cpu-pjrt from the project's environment):
// opening, what the plugin says about itself, clients and their devices, and refusals.

#include "hepinfer/xla/pjrt_plugin.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "error_message.h"
#include "hepinfer/core/error.h"
#include "hepinfer/scheduler/gpu_discovery.h"
#include "hepinfer/xla/xla_model.h"

namespace hepinfer::xla {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const PjrtPlugin> cpu_plugin() { return PjrtPlugin::open(cpu_plugin_path()); }

TEST(PjrtPlugin, TheCpuPluginOpensOnceAndDescribesItself) {
  const auto plugin = cpu_plugin();
  EXPECT_EQ(plugin, cpu_plugin()) << "a plugin is opened and initialised once per process";
  const PjrtPluginInfo& info = plugin->info();
  EXPECT_EQ(info.api_major, 0);
  EXPECT_GE(info.api_minor, kMinimumPjrtApiMinor);
  ASSERT_TRUE(info.attributes.contains("stablehlo_current_version"));
  EXPECT_EQ(std::count(info.attributes.at("stablehlo_current_version").begin(),
                       info.attributes.at("stablehlo_current_version").end(), '.'),
            2)
      << info.attributes.at("stablehlo_current_version");  // "1.13.3"
}

TEST(PjrtPlugin, AClientHasTheDevicesItWasAskedFor) {
  const PjrtClient one(cpu_plugin(), {{"cpu_device_count", std::int64_t{1}}});
  EXPECT_EQ(one.platform_name(), "cpu");
  const auto devices = one.devices();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].kind, "cpu");
  EXPECT_FALSE(devices[0].description.empty());
  const PjrtClient two(cpu_plugin(), {{"cpu_device_count", std::int64_t{2}}});
  EXPECT_EQ(two.devices().size(), 2u);
}

TEST(PjrtPlugin, ClientsComeAndGo) {
  for (int i = 0; i < 3; ++i) {
    const PjrtClient client(cpu_plugin(), {{"cpu_device_count", std::int64_t{1}}});
    EXPECT_EQ(client.devices().size(), 1u);
  }
}

TEST(PjrtPlugin, AMissingPluginIsNotFoundAndNamed) {
  const std::string message = test::error_message_of<FileNotFoundError>(
      [] { PjrtPlugin::open("/no/such/pjrt_plugin.so"); });
  EXPECT_NE(message.find("/no/such/pjrt_plugin.so"), std::string::npos) << message;
}

TEST(PjrtPlugin, ALibraryThatIsNotAPluginIsRefused) {
  // libm is loadable and has no GetPjrtApi.
  const std::string message = test::error_message_of<InvalidArgumentError>([] {
    for (const char* candidate : {"/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"}) {
      if (fs::exists(candidate)) PjrtPlugin::open(candidate);
    }
  });
  EXPECT_NE(message.find("not a PJRT plugin"), std::string::npos) << message;
}

TEST(PjrtPlugin, AFileThatIsNotALibraryIsRefused) {
  const fs::path fake = fs::temp_directory_path() / ("hepinfer_not_a_plugin_" + std::to_string(::getpid()) + ".so");
  std::ofstream(fake) << "not an ELF file";
  const std::string message = test::error_message_of<InvalidArgumentError>([&] { PjrtPlugin::open(fake); });
  EXPECT_NE(message.find("cannot be loaded"), std::string::npos) << message;
  fs::remove(fake);
}

TEST(PjrtPlugin, ThePathComesFromTheCallerThenTheEnvironmentThenTheBuild) {
  EXPECT_EQ(cpu_plugin_path("/explicit/plugin.so"), fs::path("/explicit/plugin.so"));
  ::setenv("HEPINFER_PJRT_CPU_PLUGIN", "/from/environment.so", 1);
  EXPECT_EQ(cpu_plugin_path(), fs::path("/from/environment.so"));
  ::unsetenv("HEPINFER_PJRT_CPU_PLUGIN");
  EXPECT_TRUE(fs::exists(cpu_plugin_path())) << cpu_plugin_path();
}

TEST(PjrtPlugin, TheCudaPluginPathComesFromTheCallerThenTheEnvironmentThenTheBuild) {
  EXPECT_EQ(cuda_plugin_path("/explicit/cuda.so"), fs::path("/explicit/cuda.so"));
  ::setenv("HEPINFER_PJRT_CUDA_PLUGIN", "/from/environment/cuda.so", 1);
  EXPECT_EQ(cuda_plugin_path(), fs::path("/from/environment/cuda.so"));
  ::unsetenv("HEPINFER_PJRT_CUDA_PLUGIN");
  // scripts/setup.sh installs jax-cuda13-pjrt from the lock file.
  EXPECT_EQ(cuda_plugin_path().filename(), "xla_cuda_plugin.so") << cuda_plugin_path();
  EXPECT_TRUE(fs::exists(cuda_plugin_path())) << cuda_plugin_path();
}

TEST(PjrtPlugin, SharedClientsAreOnePerOptionsWhileInUse) {
  const auto plugin = cpu_plugin();
  const PjrtOptions one{{"cpu_device_count", std::int64_t{1}}}, two{{"cpu_device_count", std::int64_t{2}}};
  const auto first = PjrtClient::shared(plugin, one);
  EXPECT_EQ(PjrtClient::shared(plugin, one), first);
  const auto other = PjrtClient::shared(plugin, two);
  EXPECT_NE(other, first);
  EXPECT_EQ(other->devices().size(), 2u);
  const PjrtClient* address = first.get();
  EXPECT_FALSE(PjrtClient(plugin, one).devices().empty());  // a client of one's own is still possible
  EXPECT_EQ(PjrtClient::shared(plugin, one).get(), address);
}

TEST(PjrtPlugin, TheCpuPluginReportsNoMemoryStatistics) {
  const PjrtClient client(cpu_plugin(), {{"cpu_device_count", std::int64_t{1}}});
  EXPECT_FALSE(client.memory_stats().has_value());
  EXPECT_THROW(client.memory_stats(1), InvalidArgumentError);
}

TEST(CudaClientOptions, AModuleSeesItsGpuGrowsOnDemandAndIsCapped) {
  const PjrtOptions options = cuda_client_options(3, 2048, 16384);
  EXPECT_EQ(std::get<std::vector<std::int64_t>>(options.at("visible_devices")), std::vector<std::int64_t>{3});
  EXPECT_FALSE(std::get<bool>(options.at("preallocate")));
  EXPECT_EQ(std::get<std::string>(options.at("allocator")), "bfc");
  EXPECT_DOUBLE_EQ(std::get<double>(options.at("memory_fraction")), 0.125);
  EXPECT_FALSE(cuda_client_options(0, 0, 16384).contains("memory_fraction"));  // no cap asked for
  EXPECT_DOUBLE_EQ(std::get<double>(cuda_client_options(0, 32768, 16384).at("memory_fraction")), 1.0);
  EXPECT_THROW(cuda_client_options(-1, 1024, 16384), InvalidArgumentError);
  EXPECT_THROW(cuda_client_options(0, 1024, 0), InvalidArgumentError);
}

// The real CUDA plugin checks every option's name and type before it looks for GPUs, so on a
// machine without one this proves the options hepinfer sends are the ones it accepts; with a GPU
// the client is made and its allocator's limit is the cap.
TEST(CudaClientOptions, TheCudaPluginAcceptsThem) {
  const auto plugin = PjrtPlugin::open(cuda_plugin_path());
  EXPECT_GE(plugin->info().api_minor, kMinimumPjrtApiMinor);
  const scheduler::Discovery discovery = scheduler::discover_gpus({.query_free_memory = false});
  if (discovery.inventory.gpus.empty()) {
    const std::string message = test::error_message_of<FailedPreconditionError>(
        [&] { PjrtClient(plugin, cuda_client_options(0, 1024, 16384)); });
    EXPECT_NE(message.find("No visible GPU devices"), std::string::npos) << message;
  } else {
    const scheduler::GpuDevice& gpu = discovery.inventory.gpus.front();
    const PjrtClient client(plugin, cuda_client_options(gpu.id, 1024, gpu.total_mib));
    ASSERT_EQ(client.devices().size(), 1u);
    const auto stats = client.memory_stats();
    ASSERT_TRUE(stats && stats->bytes_limit);
    EXPECT_LE(*stats->bytes_limit, 1025LL << 20);
  }
}

TEST(CudaClientOptions, AWronglyTypedOptionIsATypedErrorNotAnAbort) {
  const auto plugin = PjrtPlugin::open(cuda_plugin_path());
  const std::string message =
      test::error_message_of<InvalidArgumentError>([&] { PjrtClient(plugin, {{"preallocate", std::int64_t{1}}}); });
  EXPECT_NE(message.find("preallocate"), std::string::npos) << message;
  EXPECT_THROW(PjrtClient(plugin, {{"no_such_option", true}}), InvalidArgumentError);
}

}  // namespace
}  // namespace hepinfer::xla
