#include "hepinfer/xla/xla_model.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>
#include <sstream>

#include "artifact.h"
#include "client_placement.h"
#include "executable_cache.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/example_inputs.h"
#include "hepinfer/core/file_read.h"
#include "hepinfer/core/fixed_batches.h"
#include "hepinfer/core/per_call_inputs.h"
#include "hepinfer/xla/pjrt_plugin.h"
#include "pjrt_program.h"
#include "resident_weights.h"

namespace hepinfer::xla {
namespace {

namespace fs = std::filesystem;

struct CompiledBatch {
  std::int64_t rows = 0;
  std::unique_ptr<detail::PjrtProgram> program;
};

class XlaModel final : public Model {
 public:
  XlaModel(ModelInfo info, std::shared_ptr<const PjrtClient> client, std::vector<CompiledBatch> batches)
      : info_(std::move(info)), client_(std::move(client)), batches_(std::move(batches)) {
    for (const CompiledBatch& batch : batches_) info_.batch_sizes.push_back(batch.rows);
    for (const SignatureInfo& signature : info_.signatures) per_call_.push_back(per_call_flags(signature));
  }

  const ModelInfo& info() const override { return info_; }
  void set_timing(const LoadTiming& timing) { info_.timing = timing; }
  const PjrtClient& client() const { return *client_; }
  const XlaLoadReport& load_report() const { return load_report_; }
  void set_load_report(XlaLoadReport report) { load_report_ = std::move(report); }

  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options) const override {
    const SignatureInfo& signature = info_.signature(options.signature.empty() ? info_.default_signature : options.signature);
    return run_signature_over_batch_sizes(
        signature, per_call_[static_cast<std::size_t>(&signature - info_.signatures.data())], inputs, output_names,
        info_.batch_sizes,
        [&](std::size_t size_index, const BatchPart& part) { return run_padded(batches_[size_index], part); },
        info_.path);
  }

 private:
  // `part` (rows <= batch.rows) on `batch`'s program, padded with zeros; outputs cut back.
  std::vector<Tensor> run_padded(const CompiledBatch& batch, const BatchPart& part) const {
    const std::int64_t rows = part.rows;
    std::vector<Tensor> fed;
    fed.reserve(part.inputs.size());
    for (std::size_t i = 0; i < part.inputs.size(); ++i) {
      const Tensor& input = part.inputs[i];
      fed.push_back(rows == batch.rows || part.per_call[i] ? input : padded_to_rows(input, batch.rows));
    }
    std::vector<Tensor> outputs = batch.program->run(fed);
    for (Tensor& output : outputs) {
      if (output.shape().rank() == 0 || output.rows() != batch.rows) {
        throw InternalError("model '" + info_.path + "': the program for batch " + std::to_string(batch.rows) +
                            " returned " + output.description() + ", not one row per input row");
      }
      if (rows != batch.rows) output = output.slice_rows(0, rows);
    }
    return outputs;
  }

  ModelInfo info_;
  std::shared_ptr<const PjrtClient> client_;
  std::vector<CompiledBatch> batches_;  // by increasing rows
  std::vector<std::vector<bool>> per_call_;  // per signature, per input (core/per_call_inputs.h)
  XlaLoadReport load_report_;
};

// Everything a compiled program depends on besides its source (see executable_cache.h).
std::string cache_key(const PjrtClient& client, const std::string& code, const std::string& format) {
  const PjrtPluginInfo& plugin = client.plugin().info();
  std::error_code ec;
  const auto size = fs::file_size(plugin.path, ec);
  const auto modified = fs::last_write_time(plugin.path, ec).time_since_epoch().count();
  const PjrtDeviceInfo device = client.devices().front();
  const char* xla_flags = std::getenv("XLA_FLAGS");
  std::ostringstream key;
  key << "program " << detail::fingerprint(code) << " " << code.size() << " " << format << "\n"
      << "compile options " << detail::fingerprint(detail::compile_options_for(client)) << "\n"
      << "XLA_FLAGS " << (xla_flags == nullptr ? "" : xla_flags) << "\n"  // the plugin reads them when it compiles
      << "plugin " << fs::weakly_canonical(plugin.path, ec).string() << " " << size << " " << modified << " api "
      << plugin.api_major << "." << plugin.api_minor << "\n"
      << "platform " << client.platform_name() << " " << client.platform_version() << "\n"
      << "device " << device.id << " " << device.kind << " " << device.description << "\n"
      << "host " << detail::host_cpu_identity() << "\n";
  return key.str();
}

// The program for `code`: from the cache when it holds one, else compiled (and then cached).
// `weights`: those the program takes as parameters after its inputs (null: baked in).
std::unique_ptr<detail::PjrtProgram> program_for(const std::shared_ptr<const PjrtClient>& client,
                                                 const detail::ExecutableCache& cache, const std::string& code,
                                                 const std::string& format, const std::string& what,
                                                 detail::InputMemory inputs,
                                                 const std::shared_ptr<const detail::ResidentWeights>& weights,
                                                 bool& from_cache) {
  from_cache = false;
  std::string key;
  if (cache.enabled()) {
    key = cache_key(*client, code, format);
    if (const std::optional<std::string> serialized = cache.find(key)) {
      try {
        auto program = detail::PjrtProgram::deserialize(client, *serialized, what, inputs, weights);
        from_cache = true;
        return program;
      } catch (const Error&) {
        // An entry this plugin does not take after all: compile, and replace it.
      }
    }
  }
  auto program = detail::PjrtProgram::compile(client, code, format, what, inputs, weights);
  if (cache.enabled()) {
    try {
      cache.store(key, program->serialize());
    } catch (const Error&) {
      // A plugin that cannot serialize: nothing to cache.
    }
  }
  return program;
}

// "512 B", "10.0 KiB", "256.0 MiB".
std::string size_text(std::int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(1);
  if (bytes < 1024 * 1024) {
    text << static_cast<double>(bytes) / 1024.0 << " KiB";
  } else {
    text << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MiB";
  }
  return text.str();
}

// Keeps the programs (by increasing rows) whose runs fit in `limit_bytes` (0: all) beside the
// weights fed as parameters (report.resident_weight_bytes, on the device for good) and the
// runs of the smaller programs kept, and records every one in `report`. Beside, not alone: a
// growing GPU allocator (BFC) keeps the regions earlier runs made and never merges them, so the
// first run of a large program finds only the limit less those regions. Measured on an H200: a
// 256 MiB run under a 258 MiB cap ran out of memory beside 6 MiB of regions left by smaller runs,
// and each allocation failure there waits 10 s for memory to be freed before failing.
// Throws ResourceExhaustedError when none fits.
std::vector<CompiledBatch> within_run_memory_limit(std::vector<CompiledBatch> batches, std::int64_t limit_bytes,
                                                   const std::string& limit_source, const std::string& where,
                                                   XlaLoadReport& report) {
  report.run_memory_limit_bytes = limit_bytes;
  std::vector<CompiledBatch> kept;
  std::int64_t held_by_smaller_runs = report.resident_weight_bytes;
  for (CompiledBatch& batch : batches) {
    const std::optional<CompiledMemory>& memory = batch.program->compiled_memory();
    const bool fits = limit_bytes <= 0 || !memory || held_by_smaller_runs + memory->run_bytes() <= limit_bytes;
    report.batches.push_back({.rows = batch.rows, .memory = memory, .used = fits});
    if (!fits) continue;
    if (memory) held_by_smaller_runs += memory->run_bytes();
    kept.push_back(std::move(batch));
  }
  if (kept.empty()) {
    const CompiledMemory& smallest = *report.batches.front().memory;
    throw ResourceExhaustedError(where + ": the smallest compiled batch size (" +
                                 std::to_string(report.batches.front().rows) + ") needs " +
                                 size_text(smallest.run_bytes()) + " a run by the compiler's figures (inputs " +
                                 size_text(smallest.argument_bytes - smallest.resident_argument_bytes) +
                                 ", outputs " + size_text(smallest.output_bytes) +
                                 ", temporaries " + size_text(smallest.temp_bytes) +
                                 ")" +
                                 (report.resident_weight_bytes > 0
                                      ? " beside its weights' " + size_text(report.resident_weight_bytes)
                                      : std::string()) +
                                 ", more than the run memory limit of " + size_text(limit_bytes) + " (" + limit_source +
                                 "); compile smaller batch sizes or give the module more memory");
  }
  return kept;
}

// "1: 10.0 KiB, 64: 2.3 MiB, 1024: 36.0 MiB (not used: over the limit)" for `hepinfer inspect`.
std::string run_memory_text(const XlaLoadReport& report) {
  std::string text;
  for (const CompiledBatchReport& batch : report.batches) {
    if (!batch.memory) continue;
    text += (text.empty() ? "" : ", ") + std::to_string(batch.rows) + ": " + size_text(batch.memory->run_bytes());
    if (!batch.used) text += " (not used: over the limit)";
  }
  return text;
}

// True if `client` should run the pinned-host variants of an artifact's programs.
bool runs_pinned_host_variants(const PjrtClient& client, PinnedHostIo policy) {
  switch (policy) {
    case PinnedHostIo::kOnGpus: return client.platform_name() != "cpu";
    case PinnedHostIo::kOff: return false;
    case PinnedHostIo::kEverywhere: return true;
  }
  return false;
}

// Zeros for every input of `signature` at `rows` rows (inputs without a batch dimension at their
// own shape), in parameter order.
std::vector<Tensor> zero_inputs(const SignatureInfo& signature, std::int64_t rows) {
  std::vector<Tensor> zeros;
  for (const TensorInfo& input : signature.inputs) {
    std::vector<std::int64_t> dims = input.shape.dims();
    std::replace(dims.begin(), dims.end(), std::int64_t{-1}, rows);
    zeros.emplace_back(input.dtype, Shape(std::move(dims)));
  }
  return zeros;
}

// `program`'s pinned-host variant, or null (its reason in `report`) if the plugin refuses to
// compile it or, with `probe`, its run on zeros fails: variants must never leave a model that
// loads but cannot run where its plain programs would. The caller probes the smallest variant
// only: a larger one's run may not fit a capped module's memory, and a GPU allocator that runs
// out waits seconds before failing.
std::unique_ptr<detail::PjrtProgram> pinned_host_variant(const std::shared_ptr<const PjrtClient>& client,
                                                         const detail::ExecutableCache& cache,
                                                         const detail::ArtifactProgram& program,
                                                         const SignatureInfo& signature,
                                                         const std::shared_ptr<const detail::ResidentWeights>& weights,
                                                         bool probe, bool& from_cache, XlaLoadReport& report) {
  const detail::PinnedHostVariant& variant = *program.pinned_host_io;
  const std::string what =
      "pinned-host program '" + variant.file.string() + "' (batch " + std::to_string(program.batch) + ")";
  try {
    auto compiled = program_for(client, cache, read_regular_file(variant.file, "XLA program"), program.format, what,
                                variant.inputs_in_pinned_host ? detail::InputMemory::kPinnedHost
                                                              : detail::InputMemory::kDevice,
                                weights, from_cache);
    if (probe) {
      compiled->run(zero_inputs(signature, program.batch));
      const auto why = compiled->copied_instead_of_read_in_place();
      if (why && report.pinned_host_outputs_copied.empty()) report.pinned_host_outputs_copied = *why;
    }
    ++report.pinned_host_programs;
    return compiled;
  } catch (const Error& error) {
    if (report.pinned_host_note.empty()) report.pinned_host_note = error.what();
    return nullptr;
  }
}

// The load details' line on pinned-host variants, for `hepinfer inspect`.
std::string pinned_host_text(const XlaLoadReport& report, PinnedHostIo policy) {
  const std::string text = std::to_string(report.pinned_host_programs) + " of " + std::to_string(report.programs) +
                           " programs run with their inputs and outputs in pinned host memory";
  if (policy == PinnedHostIo::kOff) {
    return text + " (XlaOptions::pinned_host_io is off; the artifact has " +
           std::to_string(report.pinned_host_variants) + " such variants)";
  }
  std::string notes;
  if (!report.pinned_host_outputs_copied.empty()) {
    notes += "; their outputs are copied through PJRT, not read in place: " + report.pinned_host_outputs_copied;
  }
  if (!report.pinned_host_note.empty()) notes += "; the plain programs run instead of the others: " + report.pinned_host_note;
  if (!notes.empty()) return text + notes;
  if (report.pinned_host_programs < report.pinned_host_variants) return text + " (the variants run on GPUs only)";
  return text;
}

// The load details' line on the weights, for `hepinfer inspect`.
std::string weights_text(const detail::Artifact& artifact, const XlaLoadReport& report) {
  if (!artifact.weights) return "baked into each program";
  return std::to_string(report.resident_weight_tensors) + " tensors, " + size_text(report.resident_weight_bytes) +
         ", fed to every program as parameters from '" + artifact.weights->file.filename().string() +
         "' (on the device once)";
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

bool is_xla_artifact(const fs::path& path) { return detail::is_artifact(path); }

std::optional<PjrtMemoryStats> device_memory(const Model& model) {
  const auto* xla_model = dynamic_cast<const XlaModel*>(&model);
  return xla_model == nullptr ? std::nullopt : xla_model->client().memory_stats();
}

std::optional<XlaLoadReport> load_report(const Model& model) {
  const auto* xla_model = dynamic_cast<const XlaModel*>(&model);
  return xla_model == nullptr ? std::nullopt : std::optional<XlaLoadReport>(xla_model->load_report());
}

std::unique_ptr<Model> load_model(const fs::path& path, const LoadOptions& options, const XlaOptions& xla_options) {
  const auto start = std::chrono::steady_clock::now();
  if (xla_options.run_memory_limit_bytes && *xla_options.run_memory_limit_bytes <= 0) {
    throw InvalidArgumentError("XLA artifact '" + path.string() + "': the run memory limit must be positive, got " +
                               std::to_string(*xla_options.run_memory_limit_bytes) + " bytes");
  }
  const detail::Artifact artifact = detail::read_artifact(path);
  detail::PlacedClient placed = detail::place_client(options, xla_options, path.string());
  const std::shared_ptr<const PjrtClient>& client = placed.client;
  detail::check_stablehlo_readable(artifact, client->plugin().info());
  const detail::ExecutableCache cache(xla_options.compile_cache.value_or(detail::ExecutableCache::default_directory()));
  XlaLoadReport report{.programs = artifact.programs.size(), .programs_from_cache = 0, .cache = cache.directory()};
  const std::int64_t limit_bytes = xla_options.run_memory_limit_bytes.value_or(placed.cap_bytes);
  const std::string limit_source = xla_options.run_memory_limit_bytes ? "XlaOptions::run_memory_limit_bytes"
                                                                      : "the module's memory cap on " + placed.device;
  std::shared_ptr<const detail::ResidentWeights> weights;
  if (artifact.weights) {
    const std::int64_t bytes = artifact.weights->bytes();
    if (limit_bytes > 0 && bytes > limit_bytes) {
      throw ResourceExhaustedError("XLA artifact '" + path.string() + "': its weights (" + size_text(bytes) +
                                   ", fed as parameters) alone exceed the run memory limit of " +
                                   size_text(limit_bytes) + " (" + limit_source + "); give the module more memory");
    }
    weights = std::make_shared<const detail::ResidentWeights>(client, *artifact.weights,
                                                              "XLA artifact '" + path.string() + "'");
    report.resident_weight_bytes = weights->bytes();
    report.resident_weight_tensors = artifact.weights->tensors.size();
  }
  std::vector<CompiledBatch> batches;
  // Until a variant fails: the others would fail alike (a plugin without pinned host memory).
  bool variants_wanted = runs_pinned_host_variants(*client, xla_options.pinned_host_io);
  for (const detail::ArtifactProgram& program : artifact.programs) {
    const std::string what = "program '" + program.file.string() + "' (batch " + std::to_string(program.batch) + ")";
    bool from_cache = false;
    std::unique_ptr<detail::PjrtProgram> compiled;
    if (program.pinned_host_io) {
      ++report.pinned_host_variants;
      if (variants_wanted) {
        compiled = pinned_host_variant(client, cache, program, artifact.signature, weights,
                                       /*probe=*/report.pinned_host_programs == 0, from_cache, report);
        variants_wanted = compiled != nullptr;
      }
    }
    if (compiled == nullptr) {
      compiled = program_for(client, cache, read_regular_file(program.file, "XLA program"), program.format, what,
                             detail::InputMemory::kDevice, weights, from_cache);
    }
    report.programs_from_cache += from_cache ? 1 : 0;
    if (compiled->num_outputs() != artifact.signature.outputs.size()) {
      throw InvalidModelError("XLA artifact '" + path.string() + "': " + what + " has " +
                              std::to_string(compiled->num_outputs()) + " outputs, the manifest lists " +
                              std::to_string(artifact.signature.outputs.size()));
    }
    batches.push_back({program.batch, std::move(compiled)});
  }
  batches = within_run_memory_limit(std::move(batches), limit_bytes, limit_source,
                                    "XLA artifact '" + path.string() + "'", report);
  if (weights) {
    // Nothing else checks that the programs take the weights the manifest lists (PJRT counts the
    // buffers and their sizes when a run starts): one run on zeros says so at load.
    try {
      batches.front().program->run(zero_inputs(artifact.signature, batches.front().rows));
    } catch (const InvalidArgumentError& error) {  // what PJRT says of arguments of other counts or sizes
      throw InvalidModelError("XLA artifact '" + path.string() + "': its programs do not take the " +
                              std::to_string(report.resident_weight_tensors) + " weights its manifest lists (" +
                              error.what() + ")");
    }
  }
  ModelInfo info;
  info.path = path.string();
  info.backend = "xla";
  info.format = "XLA artifact (StableHLO " + artifact.stablehlo_version + ", from " + artifact.source + ")";
  info.signatures = {artifact.signature};
  info.default_signature = artifact.signature.key;
  info.threading = options.threading;
  info.device = std::move(placed.device);
  info.gpu = placed.gpu;
  info.placement_note = std::move(placed.placement_note);
  std::string batch_sizes;
  for (const CompiledBatch& batch : batches) batch_sizes += (batch_sizes.empty() ? "" : ",") + std::to_string(batch.rows);
  info.load_details = {
      {"batch sizes", batch_sizes},
      {"programs", std::to_string(report.programs) + " (" + std::to_string(report.programs_from_cache) +
                       " from the compile cache, " + std::to_string(report.programs - report.programs_from_cache) +
                       " compiled)"},
      {"compile cache", report.cache.empty() ? "off" : report.cache.string()},
      {"matmul precision", artifact.matmul_precision == "highest" ? "highest (float32 products in float32)"
                                                                  : "default (a GPU may use TF32)"},
      {"weights", weights_text(artifact, report)}};
  if (const std::string memory = run_memory_text(report); !memory.empty()) {
    info.load_details.emplace_back("memory a run", memory + " (compiler's figures)");
  }
  if (report.run_memory_limit_bytes > 0) {
    info.load_details.emplace_back("run memory limit",
                                   size_text(report.run_memory_limit_bytes) + " (" + limit_source + ")");
  }
  if (report.pinned_host_variants > 0) {
    info.load_details.emplace_back("pinned host I/O", pinned_host_text(report, xla_options.pinned_host_io));
  }
  if (!info.placement_note.empty()) info.load_details.emplace_back("placement", info.placement_note);
  auto model = std::make_unique<XlaModel>(std::move(info), std::move(placed.client), std::move(batches));
  model->set_load_report(std::move(report));

  LoadTiming timing;
  timing.load_ms = milliseconds_since(start);
  warm_up(*model, options, timing);
  model->set_timing(timing);
  return model;
}

}  // namespace hepinfer::xla
