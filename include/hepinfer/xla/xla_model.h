#pragma once
// Loading an XLA artifact (`hepinfer compile MODEL -o OUT.xla`, tools/compile_xla.py) as a
// hepinfer::Model that runs on a PJRT plugin: today the CPU plugin (xla-cpu-pjrt). No PJRT or
// TensorFlow header is included from here; builds without TensorFlow.
//
// A run of any row count goes to the smallest compiled batch size that holds it (padded with
// zeros, outputs cut back to the rows given) or is split over the largest; an empty batch never
// reaches the plugin. run() is thread-safe.
//
// Of LoadOptions the XLA backend reads `threading` (recorded; the plugin runs programs on its own
// threads whatever the mode), `warmup_runs`/`warmup_batch_sizes` and `placement` (a GPU placement
// runs on the CPU plugin until the GPU plugins are supported; ModelInfo::device says where it
// runs). Signatures, tags and the op allowlist were applied when the artifact was compiled.

#include <filesystem>
#include <memory>

#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"

namespace hepinfer::xla {

// Throws FileNotFoundError, InvalidModelError (a malformed manifest or program, naming it), the
// plugin's errors (see pjrt_plugin.h); never returns a half-initialised model. `plugin`: the PJRT
// CPU plugin to use (default: cpu_plugin_path()).
std::unique_ptr<Model> load_model(const std::filesystem::path& artifact, const LoadOptions& options = {},
                                  const std::filesystem::path& plugin = {});

// True if `path` is a directory holding an XLA artifact.
bool is_xla_artifact(const std::filesystem::path& path);

}  // namespace hepinfer::xla
