// libFuzzer target: the AOT package manifest reader. Each input is written as the manifest of a
// scratch package whose library file exists; reading must give a manifest or throw a
// hepinfer::Error, never crash. No library is opened: that happens only after the manifest and the
// CPU were checked (package_library.cpp).
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "hepinfer/core/error.h"
#include "package_manifest.h"

namespace {

const std::filesystem::path& scratch_package() {
  static const std::filesystem::path directory = [] {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("hepinfer_fuzz_aot_" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    std::ofstream(path / "model.so") << "not a library";
    return path;
  }();
  return directory;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path& package = scratch_package();
  std::ofstream(package / "manifest.json", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  try {
    // A CPU with some of x86-64-v4's features, so that variants are both taken and passed over.
    static const std::vector<std::string> cpu_features{"avx", "avx2", "avx512f", "fma", "sse4_2"};
    hepinfer::aot::detail::read_package_manifest(package, cpu_features);
  } catch (const hepinfer::Error&) {
  }
  return 0;
}
