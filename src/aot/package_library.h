#pragma once
// An AOT package's shared library, opened with dlopen and bound through the C table of
// package_abi.h, after its manifest and this CPU were checked; closed when the last user is gone.

#include <cstdint>
#include <memory>
#include <string>

#include "package_abi.h"
#include "package_manifest.h"

namespace hepinfer::aot::detail {

class PackageLibrary {
 public:
  // Refuses (UnsupportedError) a package needing CPU features this CPU lacks, and (InvalidModelError)
  // a library of another size than the manifest says, one dlopen rejects, one without the entry
  // point, or one whose table disagrees with the manifest (ABI version, package id, batch sizes,
  // inputs, outputs, buffer sizes); messages name the package.
  explicit PackageLibrary(const PackageManifest& manifest);
  ~PackageLibrary();
  PackageLibrary(const PackageLibrary&) = delete;
  PackageLibrary& operator=(const PackageLibrary&) = delete;

  const HepinferAotPackage& table() const { return *table_; }

 private:
  void check_against(const PackageManifest& manifest) const;

  void* handle_ = nullptr;
  const HepinferAotPackage* table_ = nullptr;
};

}  // namespace hepinfer::aot::detail
