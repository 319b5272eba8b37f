// libFuzzer target: hepinfer's model loading on mutated bytes, as a frozen GraphDef (.pb) and as
// the graph file of a SavedModel (whose variables are missing). Loading must succeed or throw a
// hepinfer::Error; nothing of the graph runs (the op allowlist is on, warm-up off).
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "hepinfer/core/error.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"

namespace {

const std::filesystem::path& scratch() {
  static const std::filesystem::path directory = [] {
    auto path = std::filesystem::temp_directory_path() / ("hepinfer_fuzz_model_" + std::to_string(getpid()));
    std::filesystem::create_directories(path / "saved_model");
    hepinfer::tf::set_log_level(hepinfer::tf::LogLevel::kError);
    return path;
  }();
  return directory;
}

void load(const std::filesystem::path& path) {
  try {
    hepinfer::tf::load_model(path);
  } catch (const hepinfer::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path frozen = scratch() / "graph.pb", saved = scratch() / "saved_model" / "saved_model.pb";
  std::ofstream(frozen, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                   static_cast<std::streamsize>(size));
  load(frozen);
  std::ofstream(saved, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                  static_cast<std::streamsize>(size));
  load(saved.parent_path());
  return 0;
}
