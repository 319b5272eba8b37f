#pragma once
// The manifest of an AOT package (tools/compile_aot.py): read and checked before anything of the
// package's library is opened.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "hepinfer/core/model.h"

namespace hepinfer::aot::detail {

inline constexpr char kPackageFormat[] = "hepinfer-aot";
inline constexpr int kPackageFormatVersion = 1;

// A package holds one library per CPU level it was compiled for: the baseline ("library",
// "target") and, optionally, variants for higher levels ("variants": [{"target", "library"}]).
// The manifest describes the one chosen to be opened; `compiled_levels` lists all of them.
struct PackageManifest {
  std::filesystem::path directory;
  std::filesystem::path manifest;
  SignatureInfo signature;  // inputs and outputs in the compiled functions' order
  std::vector<std::int64_t> batch_sizes;  // increasing, distinct, positive
  std::filesystem::path library;
  std::int64_t library_bytes = 0;
  std::int64_t abi_version = 0;
  std::string package_id;
  std::string cpu_level;
  std::vector<std::string> cpu_features;
  std::vector<std::string> compiled_levels;  // the baseline's first
  std::string source;
  std::string tensorflow_version;
  // What `compile --tune` chose for the opened level, per batch size ("1: 512-bit vectors; 64:
  // default"), or why that level was not tuned; empty for a package compiled without --tune.
  std::string tuning;
};

// True if `directory` holds a manifest.json whose "format" is kPackageFormat.
bool is_package(const std::filesystem::path& directory);

// Reads the manifest and chooses, of the package's libraries, the variant with the most CPU
// features that are all in `cpu_features` (the features of the CPU that will run it), else the
// baseline (which the library loader then refuses, naming what this CPU lacks). Throws
// FileNotFoundError (no directory, manifest or chosen library), InvalidModelError naming the
// manifest and the field for anything malformed, in any variant.
PackageManifest read_package_manifest(const std::filesystem::path& directory,
                                      const std::vector<std::string>& cpu_features);

}  // namespace hepinfer::aot::detail
