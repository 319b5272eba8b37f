#include "artifact.h"

#include <algorithm>

#include "../core/manifest_reader.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"

namespace hepinfer::xla::detail {

namespace fs = std::filesystem;

namespace {

// The "weights" entry of a manifest: "baked into each program" (none), or the weights fed as
// parameters, each checked to lie inside its file.
std::optional<ArtifactWeights> read_weights(const hepinfer::detail::ManifestReader& reader,
                                            const nlohmann::json& manifest, const fs::path& directory) {
  if (!manifest.contains("weights")) return std::nullopt;
  const nlohmann::json& entry = manifest.at("weights");
  if (entry.is_string()) return std::nullopt;  // baked into each program
  if (reader.text(entry, "layout", "weights.layout") != "parameters") {
    reader.fail("weights.layout", "expected parameters (or \"weights\" a string: baked into each program)");
  }
  ArtifactWeights weights;
  weights.file = reader.file_inside(directory, entry, "file", "weights.file");
  check_regular_file(weights.file, "XLA weights file");
  std::error_code ec;
  const auto file_size = static_cast<std::int64_t>(fs::file_size(weights.file, ec));
  if (ec) throw FileNotFoundError("XLA weights file '" + weights.file.string() + "' cannot be read: " + ec.message());
  const nlohmann::json& tensors = reader.at(entry, "tensors", "weights.tensors");
  if (!tensors.is_array() || tensors.empty()) reader.fail("weights.tensors", "expected a non-empty list");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::string field = "weights.tensors[" + std::to_string(i) + "]";
    WeightTensor tensor;
    tensor.name = reader.text(tensors[i], "name", field + ".name");
    const std::string dtype = reader.text(tensors[i], "dtype", field + ".dtype");
    const std::optional<DType> parsed = parse_dtype(dtype);
    if (!parsed) reader.fail(field + ".dtype", "'" + dtype + "' is not a dtype hepinfer tensors hold");
    tensor.dtype = *parsed;
    const nlohmann::json& shape = reader.at(tensors[i], "shape", field + ".shape");
    if (!shape.is_array()) reader.fail(field + ".shape", "expected a list of dimensions");
    std::vector<std::int64_t> dims;
    for (const nlohmann::json& dim : shape) {
      if (!dim.is_number_integer() || dim.get<std::int64_t>() < 0) {
        reader.fail(field + ".shape", "expected non-negative integer dimensions");
      }
      dims.push_back(dim.get<std::int64_t>());
    }
    tensor.shape = Shape(std::move(dims));
    tensor.offset = reader.integer(tensors[i], "offset", field + ".offset");
    std::int64_t elements = 0;
    try {
      elements = tensor.shape.num_elements();
    } catch (const InvalidArgumentError& error) {
      reader.fail(field + ".shape", error.what());
    }
    if (tensor.offset < 0 || tensor.offset > file_size || elements > file_size ||
        tensor.byte_size() > file_size - tensor.offset) {
      reader.fail(field, "'" + tensor.name + "' (" + dtype + " " + tensor.shape.to_string() + " at offset " +
                             std::to_string(tensor.offset) + ") does not lie inside '" + weights.file.string() +
                             "' (" + std::to_string(file_size) + " bytes)");
    }
    weights.tensors.push_back(std::move(tensor));
  }
  return weights;
}

}  // namespace

std::int64_t ArtifactWeights::bytes() const {
  std::int64_t total = 0;
  for (const WeightTensor& tensor : tensors) total += tensor.byte_size();
  return total;
}

bool is_artifact(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(path / "manifest.json", ec) &&
         !fs::exists(path / "saved_model.pb", ec);
}

Artifact read_artifact(const fs::path& directory) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) throw FileNotFoundError("XLA artifact '" + directory.string() + "' does not exist");
  const fs::path manifest_path = directory / "manifest.json";
  const hepinfer::detail::ManifestReader reader(manifest_path, "XLA artifact manifest");
  const nlohmann::json manifest = reader.parse();
  if (reader.text(manifest, "format", "format") != kArtifactFormat) {
    reader.fail("format", std::string("expected '") + kArtifactFormat + "'");
  }
  const std::int64_t version = reader.integer(manifest, "format_version", "format_version");
  if (version != kArtifactFormatVersion && version != kArtifactFormatVersionWeightParameters) {
    reader.fail("format_version", "this hepinfer reads versions " + std::to_string(kArtifactFormatVersion) + " and " +
                                      std::to_string(kArtifactFormatVersionWeightParameters) + ", got " +
                                      std::to_string(version) + "; compile the model again");
  }
  Artifact artifact;
  artifact.directory = directory;
  artifact.signature.key = reader.text(manifest, "signature", "signature");
  artifact.signature.inputs = reader.tensors(manifest, "inputs");
  artifact.signature.outputs = reader.tensors(manifest, "outputs");
  artifact.stablehlo_version = reader.text(manifest, "stablehlo_version", "stablehlo_version");
  if (!parse_version(artifact.stablehlo_version)) {
    reader.fail("stablehlo_version", "expected a version such as 1.0.0, got '" + artifact.stablehlo_version + "'");
  }
  artifact.source = reader.text(reader.at(manifest, "source", "source"), "path", "source.path");
  artifact.matmul_precision =
      manifest.contains("matmul_precision") ? reader.text(manifest, "matmul_precision", "matmul_precision") : "default";
  if (artifact.matmul_precision != "highest" && artifact.matmul_precision != "default") {
    reader.fail("matmul_precision", "expected highest or default, got '" + artifact.matmul_precision + "'");
  }
  artifact.weights = read_weights(reader, manifest, directory);
  // Version 2 says the programs take weights; a reader that ignored it would run them without.
  if ((version == kArtifactFormatVersionWeightParameters) != artifact.weights.has_value()) {
    reader.fail("format_version", artifact.weights ? "weights fed as parameters need version 2, got 1"
                                                   : "version 2 needs weights fed as parameters, the manifest has none");
  }
  const nlohmann::json& programs = reader.at(manifest, "programs", "programs");
  if (!programs.is_array() || programs.empty()) reader.fail("programs", "expected a non-empty list");
  for (std::size_t i = 0; i < programs.size(); ++i) {
    const std::string field = "programs[" + std::to_string(i) + "]";
    ArtifactProgram program;
    program.batch = reader.integer(programs[i], "batch", field + ".batch");
    if (program.batch < 1) reader.fail(field + ".batch", "expected at least 1");
    program.file = reader.file_inside(directory, programs[i], "file", field + ".file");
    check_regular_file(program.file, "XLA program");
    program.format = reader.text(programs[i], "format", field + ".format");
    if (program.format != "mlir" && program.format != "hlo") reader.fail(field + ".format", "expected mlir or hlo");
    if (programs[i].is_object() && programs[i].contains("pinned_host_io")) {
      const std::string variant_field = field + ".pinned_host_io";
      const nlohmann::json& variant = programs[i].at("pinned_host_io");
      PinnedHostVariant pinned;
      pinned.file = reader.file_inside(directory, variant, "file", variant_field + ".file");
      check_regular_file(pinned.file, "XLA program");
      const nlohmann::json& inputs = reader.at(variant, "inputs_in_pinned_host", variant_field + ".inputs_in_pinned_host");
      if (!inputs.is_boolean()) reader.fail(variant_field + ".inputs_in_pinned_host", "expected true or false");
      pinned.inputs_in_pinned_host = inputs.get<bool>();
      program.pinned_host_io = std::move(pinned);
    }
    artifact.programs.push_back(std::move(program));
  }
  std::sort(artifact.programs.begin(), artifact.programs.end(),
            [](const ArtifactProgram& a, const ArtifactProgram& b) { return a.batch < b.batch; });
  for (std::size_t i = 1; i < artifact.programs.size(); ++i) {
    if (artifact.programs[i].batch == artifact.programs[i - 1].batch) {
      reader.fail("programs", "batch " + std::to_string(artifact.programs[i].batch) + " appears twice");
    }
  }
  return artifact;
}

std::optional<std::array<int, 3>> parse_version(const std::string& text) {
  std::array<int, 3> version{};
  std::size_t at = 0;
  for (std::size_t part = 0; part < 3; ++part) {
    const std::size_t end = part < 2 ? text.find('.', at) : text.size();
    if (end == std::string::npos || end == at || end - at > 6) return std::nullopt;
    const std::string digits = text.substr(at, end - at);
    if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    version[part] = std::stoi(digits);
    at = end + 1;
  }
  return version;
}

void check_stablehlo_readable(const Artifact& artifact, const PjrtPluginInfo& plugin) {
  const auto current = plugin.attributes.find("stablehlo_current_version");
  const auto minimum = plugin.attributes.find("stablehlo_minimum_version");
  if (current == plugin.attributes.end()) return;  // the plugin does not say; it will check itself
  const auto wanted = parse_version(artifact.stablehlo_version);
  const auto newest = parse_version(current->second);
  const auto oldest = minimum == plugin.attributes.end() ? std::optional<std::array<int, 3>>(std::array<int, 3>{})
                                                         : parse_version(minimum->second);
  if (!wanted || !newest || !oldest || (*oldest <= *wanted && *wanted <= *newest)) return;
  throw UnsupportedError("XLA artifact '" + artifact.directory.string() + "' holds StableHLO " +
                         artifact.stablehlo_version + "; PJRT plugin '" + plugin.path.string() + "' reads " +
                         (minimum == plugin.attributes.end() ? std::string("up to ") : minimum->second + " to ") +
                         current->second + ". Compile the model for a version it reads");
}

}  // namespace hepinfer::xla::detail
