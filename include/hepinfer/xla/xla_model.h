#pragma once
// Loading an XLA artifact (`hepinfer compile MODEL -o OUT.xla`, tools/compile_xla.py) as a
// hepinfer::Model that runs on a PJRT plugin: the NVIDIA GPU plugin (jax-cuda13-pjrt) for a GPU
// placement, the CPU plugin (xla-cpu-pjrt) otherwise. No PJRT or TensorFlow header is included
// from here; builds without TensorFlow.
//
// A run of any row count goes to the smallest compiled batch size that holds it (padded with
// zeros, outputs cut back to the rows given) or is split over the largest; an empty batch never
// reaches the plugin. run() is thread-safe. Weights an artifact feeds as parameters (`hepinfer
// compile --weights parameters`) are copied to the device once at load and passed to every run.
//
// Of LoadOptions the XLA backend reads `threading` (recorded; the plugin runs programs on its own
// threads whatever the mode), `warmup_runs`/`warmup_batch_sizes` and `placement`/`gpu_index`:
//  - a CPU placement (or none) runs on the process's one shared CPU client (one set of plugin
//    threads however many models);
//  - a GPU placement gets a CUDA client of its own that sees only that GPU (`visible_devices`),
//    allocates on demand (`preallocate=false`, BFC allocator) and is capped at the placement's
//    memory (`memory_fraction` of the GPU's total, checked against the allocator's own limit
//    and corrected once if the plugin counts differently). Each module its own client, because
//    the cap is per client. Programs whose runs do not fit in the cap by the compiler's figures
//    are not used (XlaOptions::run_memory_limit_bytes); a run that still finds the allocator full
//    (concurrent runs, fragmentation) fails with ResourceExhaustedError, which the batch splitter
//    answers by splitting.
//  - a GPU placement this process cannot follow (no CUDA plugin, a simulated GPU, no GPU) runs on
//    the CPU client; ModelInfo::gpu is then empty and ModelInfo::placement_note says why.
// Signatures, tags and the op allowlist were applied when the artifact was compiled.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"
#include "hepinfer/xla/pjrt_plugin.h"

namespace hepinfer::xla {

// Which programs run where an artifact has pinned-host variants (`hepinfer compile
// --pinned-host-io`: each program also with its inputs and outputs in the GPU's pinned host
// memory, moved inside the program, the outputs read where they lie).
enum class PinnedHostIo {
  kOnGpus,      // the variants on GPU clients, the plain programs on the CPU plugin
  kOff,         // the plain programs everywhere
  kEverywhere,  // the variants on every client (the CPU plugin refuses them today)
};

// What the XLA backend needs beyond LoadOptions.
struct XlaOptions {
  // The plugins to run on; empty: found as cpu_plugin_path() / cuda_plugin_path() say.
  std::filesystem::path cpu_plugin;
  std::filesystem::path cuda_plugin;
  // Where compiled programs are kept for later loads (a job then loads its models in a few ms
  // instead of compiling them again): none set: $HEPINFER_XLA_CACHE ("off": no cache), else
  // $XDG_CACHE_HOME/hepinfer/xla, else ~/.cache/hepinfer/xla; an empty path: no cache. A cache
  // that cannot be written is skipped, never an error.
  std::optional<std::filesystem::path> compile_cache;
  // The device memory a module's runs may hold, by the compiler's figures (CompiledMemory::run_bytes).
  // A program is kept when its run fits beside the runs of the smaller programs kept (a growing
  // GPU allocator keeps the regions earlier runs made); larger runs are split over those kept, so
  // a capped module never starts a run its allocator cannot hold. Weights fed as parameters are
  // counted once, before any run. None: a GPU placement's cap (its memory_mib); on the CPU, no
  // limit. A limit that not even the smallest program fits beside the weights, or that the
  // weights alone exceed, is a ResourceExhaustedError at load.
  std::optional<std::int64_t> run_memory_limit_bytes;
  // A variant the plugin refuses is replaced by its plain program; XlaLoadReport says why.
  PinnedHostIo pinned_host_io = PinnedHostIo::kOnGpus;
};

// What the compiler says one run of a program needs on its device (PJRT's compiled memory
// statistics); the weights baked into the program are not in it, those fed as parameters are
// among its arguments.
struct CompiledMemory {
  std::int64_t argument_bytes = 0;  // the inputs and any weights fed as parameters
  // Of argument_bytes, the weights fed as parameters: on the device once for every program and run.
  std::int64_t resident_argument_bytes = 0;
  std::int64_t output_bytes = 0;
  std::int64_t alias_bytes = 0;  // outputs written into an argument's memory
  std::int64_t temp_bytes = 0;
  std::int64_t code_bytes = 0;
  // What the device's allocator hands out for one run: the inputs, the outputs that do not reuse
  // an input's memory, and the temporaries.
  std::int64_t run_bytes() const {
    return argument_bytes - resident_argument_bytes + output_bytes - alias_bytes + temp_bytes;
  }
};

// One compiled batch size of a loaded artifact.
struct CompiledBatchReport {
  std::int64_t rows = 0;
  std::optional<CompiledMemory> memory;  // none: the plugin does not say
  bool used = true;                      // false: its runs would exceed the run memory limit
};

// How an XLA model was loaded.
struct XlaLoadReport {
  std::size_t programs = 0;             // one per compiled batch size
  std::size_t programs_from_cache = 0;  // the rest were compiled
  std::filesystem::path cache;          // empty: no cache
  std::vector<CompiledBatchReport> batches;  // by increasing rows
  std::int64_t run_memory_limit_bytes = 0;   // 0: none (see XlaOptions)
  std::size_t pinned_host_variants = 0;      // programs with a pinned-host variant in the artifact
  std::size_t pinned_host_programs = 0;      // of those, running as the variant
  std::string pinned_host_note;              // why a variant was not run; empty if each was
  // Why the probe run of a variant copied its outputs through PJRT rather than reading them where
  // they lie in pinned host memory (the results are the same, the time that of plain I/O); empty if
  // it read them in place.
  std::string pinned_host_outputs_copied;
  // Weights fed as parameters (`hepinfer compile --weights parameters`), on the device once for all
  // programs; 0: baked into each program.
  std::int64_t resident_weight_bytes = 0;
  std::size_t resident_weight_tensors = 0;
};

// Throws FileNotFoundError, InvalidModelError (a malformed manifest or program, naming it), the
// plugin's errors (see pjrt_plugin.h); never returns a half-initialised model.
std::unique_ptr<Model> load_model(const std::filesystem::path& artifact, const LoadOptions& options = {},
                                  const XlaOptions& xla_options = {});

// The CUDA plugin's create options for a module on `gpu` (CUDA ordinal) with a cap of `cap_mib`
// (0: no cap) of the GPU's `device_total_mib`.
PjrtOptions cuda_client_options(int gpu, std::int64_t cap_mib, std::int64_t device_total_mib);

// The memory of the device an XLA model runs on, as its client's allocator counts it (a GPU
// client's bytes_limit is the module's cap); empty for other models and for the CPU plugin.
std::optional<PjrtMemoryStats> device_memory(const Model& model);

// How `model` was loaded; empty if it is not an XLA model.
std::optional<XlaLoadReport> load_report(const Model& model);

// True if `path` is a directory holding an XLA artifact.
bool is_xla_artifact(const std::filesystem::path& path);

}  // namespace hepinfer::xla
