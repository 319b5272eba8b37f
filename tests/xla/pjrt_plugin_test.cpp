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

}  // namespace
}  // namespace hepinfer::xla
