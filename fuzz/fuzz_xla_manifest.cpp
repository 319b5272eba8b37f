// libFuzzer target: the XLA artifact manifest reader. Each input is written as the manifest of a
// scratch artifact whose two program files, their pinned-host variants and a 4 KiB weights.bin
// exist; reading must give an artifact or throw a hepinfer::Error, never crash. Nothing reaches
// a plugin.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "artifact.h"
#include "hepinfer/core/error.h"

namespace {

const std::filesystem::path& scratch_artifact() {
  static const std::filesystem::path directory = [] {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("hepinfer_fuzz_xla_" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    std::ofstream(path / "b1.mlirbc") << "program";
    std::ofstream(path / "b4.mlirbc") << "program";
    std::ofstream(path / "b1.pinned_host_io.mlirbc") << "program";
    std::ofstream(path / "b4.pinned_host_io.mlirbc") << "program";
    std::ofstream(path / "weights.bin") << std::string(4096, '\0');
    return path;
  }();
  return directory;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path& artifact = scratch_artifact();
  std::ofstream(artifact / "manifest.json", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  try {
    hepinfer::xla::detail::read_artifact(artifact);
  } catch (const hepinfer::Error&) {
  }
  return 0;
}
