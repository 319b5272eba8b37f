#include "package_manifest.h"

#include <algorithm>

#include "../core/manifest_reader.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"

namespace hepinfer::aot::detail {

namespace fs = std::filesystem;

namespace {

struct CompiledLibrary {
  fs::path file;
  std::int64_t bytes = 0;
  std::int64_t abi_version = 0;
  std::string cpu_level;
  std::vector<std::string> cpu_features;
};

// The "tuning" entry of `level` as one line: "1: CHOICE; 64: CHOICE", or why it was skipped.
std::string read_tuning(const hepinfer::detail::ManifestReader& reader, const nlohmann::json& tuning,
                        const std::string& level, const std::vector<std::int64_t>& batch_sizes) {
  if (!tuning.is_object()) reader.fail("tuning", "expected {level: {batch: {chosen, median_us}}}");
  if (!tuning.contains(level)) return "";
  const nlohmann::json& batches = tuning.at(level);
  const std::string field = "tuning." + level;
  if (batches.contains("skipped")) return "not tuned: " + reader.text(batches, "skipped", field + ".skipped");
  if (!batches.is_object()) reader.fail(field, "expected {batch: {chosen, median_us}}");
  std::string line;
  for (const std::int64_t size : batch_sizes) {
    const std::string batch = std::to_string(size);
    const std::string chosen = reader.text(reader.at(batches, batch, field + "." + batch), "chosen",
                                           field + "." + batch + ".chosen");
    line += (line.empty() ? "" : "; ") + batch + ": " + chosen;
  }
  return line;
}

// One library's "library" and "target" objects; `field` prefixes the fields' names in errors.
CompiledLibrary read_library(const hepinfer::detail::ManifestReader& reader, const fs::path& directory,
                             const nlohmann::json& library, const nlohmann::json& target, const std::string& field) {
  CompiledLibrary compiled;
  compiled.file = reader.file_inside(directory, library, "file", field + "library.file");
  compiled.bytes = reader.integer(library, "bytes", field + "library.bytes");
  compiled.abi_version = reader.integer(library, "abi_version", field + "library.abi_version");
  compiled.cpu_level = reader.text(target, "cpu", field + "target.cpu");
  const nlohmann::json& features = reader.at(target, "cpu_features", field + "target.cpu_features");
  if (!features.is_array()) reader.fail(field + "target.cpu_features", "expected a list of CPU feature names");
  for (const nlohmann::json& feature : features) {
    if (!feature.is_string() || feature.get<std::string>().empty()) {
      reader.fail(field + "target.cpu_features", "expected CPU feature names such as \"avx2\"");
    }
    compiled.cpu_features.push_back(feature.get<std::string>());
  }
  return compiled;
}

bool has_all(const std::vector<std::string>& available, const std::vector<std::string>& required) {
  return std::all_of(required.begin(), required.end(), [&](const std::string& feature) {
    return std::find(available.begin(), available.end(), feature) != available.end();
  });
}

}  // namespace

bool is_package(const fs::path& directory) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec) || !fs::is_regular_file(directory / "manifest.json", ec)) return false;
  try {
    const nlohmann::json manifest = nlohmann::json::parse(read_regular_file(directory / "manifest.json", "manifest"));
    return manifest.is_object() && manifest.value("format", std::string()) == kPackageFormat;
  } catch (const std::exception&) {
    return false;  // not a package's manifest; whoever loads it says what is wrong
  }
}

PackageManifest read_package_manifest(const fs::path& directory, const std::vector<std::string>& cpu_features) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) {
    throw FileNotFoundError("AOT package '" + directory.string() + "' does not exist");
  }
  PackageManifest package;
  package.directory = directory;
  package.manifest = directory / "manifest.json";
  const hepinfer::detail::ManifestReader reader(package.manifest, "AOT package manifest");
  const nlohmann::json manifest = reader.parse();
  if (reader.text(manifest, "format", "format") != kPackageFormat) {
    reader.fail("format", std::string("expected '") + kPackageFormat + "'");
  }
  if (const std::int64_t version = reader.integer(manifest, "format_version", "format_version");
      version != kPackageFormatVersion) {
    reader.fail("format_version", "this hepinfer reads version " + std::to_string(kPackageFormatVersion) + ", got " +
                                      std::to_string(version) + "; compile the model again");
  }
  package.signature.key = reader.text(manifest, "signature", "signature");
  package.signature.inputs = reader.tensors(manifest, "inputs");
  package.signature.outputs = reader.tensors(manifest, "outputs");

  const nlohmann::json& batch_sizes = reader.at(manifest, "batch_sizes", "batch_sizes");
  if (!batch_sizes.is_array() || batch_sizes.empty()) reader.fail("batch_sizes", "expected a non-empty list");
  for (const nlohmann::json& size : batch_sizes) {
    if (!size.is_number_integer() || size.get<std::int64_t>() < 1) {
      reader.fail("batch_sizes", "expected positive integers");
    }
    if (!package.batch_sizes.empty() && size.get<std::int64_t>() <= package.batch_sizes.back()) {
      reader.fail("batch_sizes", "expected increasing sizes, each once");
    }
    package.batch_sizes.push_back(size.get<std::int64_t>());
  }

  package.package_id = reader.text(manifest, "package_id", "package_id");
  if (package.package_id.empty()) reader.fail("package_id", "expected a non-empty id");

  std::vector<CompiledLibrary> libraries{read_library(reader, directory, reader.at(manifest, "library", "library"),
                                                      reader.at(manifest, "target", "target"), "")};
  if (manifest.contains("variants")) {
    const nlohmann::json& variants = manifest.at("variants");
    if (!variants.is_array()) reader.fail("variants", "expected a list of {target, library}");
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const std::string field = "variants[" + std::to_string(v) + "].";
      if (!variants[v].is_object()) reader.fail(field.substr(0, field.size() - 1), "expected {target, library}");
      libraries.push_back(read_library(reader, directory, reader.at(variants[v], "library", field + "library"),
                                       reader.at(variants[v], "target", field + "target"), field));
    }
  }
  const CompiledLibrary* chosen = &libraries.front();
  for (const CompiledLibrary& library : libraries) {
    package.compiled_levels.push_back(library.cpu_level);
    if (&library != &libraries.front() && has_all(cpu_features, library.cpu_features) &&
        library.cpu_features.size() > chosen->cpu_features.size()) {
      chosen = &library;
    }
  }
  package.library = chosen->file;
  package.library_bytes = chosen->bytes;
  package.abi_version = chosen->abi_version;
  package.cpu_level = chosen->cpu_level;
  package.cpu_features = chosen->cpu_features;
  package.source = reader.text(reader.at(manifest, "source", "source"), "path", "source.path");
  package.tensorflow_version = reader.text(manifest, "tensorflow", "tensorflow");
  if (manifest.contains("tuning")) {
    package.tuning = read_tuning(reader, manifest.at("tuning"), package.cpu_level, package.batch_sizes);
  }
  check_regular_file(package.library, "AOT package library");
  return package;
}

}  // namespace hepinfer::aot::detail
