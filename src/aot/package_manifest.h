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
  std::string source;
  std::string tensorflow_version;
};

// True if `directory` holds a manifest.json whose "format" is kPackageFormat.
bool is_package(const std::filesystem::path& directory);

// Throws FileNotFoundError (no directory, manifest or library), InvalidModelError naming the
// manifest and the field for anything malformed.
PackageManifest read_package_manifest(const std::filesystem::path& directory);

}  // namespace hepinfer::aot::detail
