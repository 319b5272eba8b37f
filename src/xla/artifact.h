#pragma once
// The artifact `hepinfer compile` writes for the XLA backend (tools/compile_xla.py): a directory
// with manifest.json, one StableHLO program per compiled batch size and, where the weights are
// parameters rather than baked into the programs, weights.bin. Read and checked here, before
// anything reaches a PJRT plugin.

#include <cstdint>
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hepinfer/core/model.h"
#include "hepinfer/xla/pjrt_plugin.h"

namespace hepinfer::xla::detail {

inline constexpr char kArtifactFormat[] = "hepinfer-xla";
inline constexpr int kArtifactFormatVersion = 1;
// Artifacts whose programs take the weights as parameters (an older reader would run them without).
inline constexpr int kArtifactFormatVersionWeightParameters = 2;

// A program's variant for GPUs (`hepinfer compile --pinned-host-io`): the same computation with
// its outputs, and with `inputs_in_pinned_host` its inputs, in the device's pinned host memory.
struct PinnedHostVariant {
  std::filesystem::path file;  // in the program's format
  bool inputs_in_pinned_host = false;
};

// One weight fed to every program as a parameter after the inputs.
struct WeightTensor {
  std::string name;  // the variable's, for messages
  DType dtype = DType::kFloat32;
  Shape shape;
  std::int64_t offset = 0;  // in the weights file
  std::int64_t byte_size() const { return shape.num_elements() * static_cast<std::int64_t>(dtype_size(dtype)); }
};

// The weights of an artifact compiled with `--weights parameters`: one file, the tensors in the
// programs' parameter order.
struct ArtifactWeights {
  std::filesystem::path file;
  std::vector<WeightTensor> tensors;
  std::int64_t bytes() const;  // of the tensors, without the alignment between them
};

struct ArtifactProgram {
  std::int64_t batch = 0;  // rows the program takes
  std::filesystem::path file;
  std::string format;  // "mlir" or "hlo"
  std::optional<PinnedHostVariant> pinned_host_io;
};

struct Artifact {
  std::filesystem::path directory;
  SignatureInfo signature;  // inputs and outputs in the programs' parameter and result order
  std::vector<ArtifactProgram> programs;  // by increasing batch
  std::string stablehlo_version;
  std::string source;  // the model it was compiled from
  // "highest" (float32 products in float32 on a GPU) or "default" (a GPU may use TF32); artifacts
  // from before the field were "default".
  std::string matmul_precision;
  std::optional<ArtifactWeights> weights;  // none: baked into each program
};

// "1.13.3" as {1, 13, 3}; empty unless three non-negative integers separated by dots.
std::optional<std::array<int, 3>> parse_version(const std::string& text);

// Throws UnsupportedError naming the artifact, the plugin and both versions if the plugin cannot
// read StableHLO `version` (outside its stablehlo_minimum_version..stablehlo_current_version).
void check_stablehlo_readable(const Artifact& artifact, const PjrtPluginInfo& plugin);

// True if `path` is a directory holding an XLA artifact's manifest.
bool is_artifact(const std::filesystem::path& path);

// Throws FileNotFoundError for a missing directory, program or weights file, InvalidModelError
// naming the manifest and the field for anything malformed (a weight beyond the end of its file
// among them).
Artifact read_artifact(const std::filesystem::path& directory);

}  // namespace hepinfer::xla::detail
