#include "hepinfer/aot/aot_model.h"

#include <chrono>
#include <cstring>

#include "cpu_features.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/example_inputs.h"
#include "hepinfer/core/fixed_batches.h"
#include "hepinfer/core/per_call_inputs.h"
#include "instance_pool.h"
#include "package_library.h"
#include "package_manifest.h"

namespace hepinfer::aot {
namespace {

namespace fs = std::filesystem;

bool is_aligned(const void* data) { return reinterpret_cast<std::uintptr_t>(data) % kTensorAlignment == 0; }

class AotModel final : public Model {
 public:
  AotModel(ModelInfo info, detail::PackageManifest manifest)
      : info_(std::move(info)),
        manifest_(std::move(manifest)),
        library_(manifest_),
        per_call_(per_call_flags(manifest_.signature)) {
    const HepinferAotPackage& table = library_.table();
    for (std::int32_t b = 0; b < table.batch_count; ++b) {
      pools_.push_back(std::make_unique<detail::InstancePool>(
          table, b, "model '" + info_.path + "' at batch " + std::to_string(manifest_.batch_sizes[b])));
    }
  }

  const ModelInfo& info() const override { return info_; }
  void set_timing(const LoadTiming& timing) { info_.timing = timing; }
  const detail::PackageManifest& manifest() const { return manifest_; }

  std::size_t pooled_instances() const {
    std::size_t total = 0;
    for (const auto& pool : pools_) total += pool->instances();
    return total;
  }

  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options) const override {
    const SignatureInfo& signature = info_.signature(options.signature.empty() ? info_.default_signature : options.signature);
    return run_signature_over_batch_sizes(
        signature, per_call_, inputs, output_names, manifest_.batch_sizes,
        [&](std::size_t size_index, const BatchPart& part) { return run_on(size_index, part); }, info_.path);
  }

 private:
  // `part` (rows <= the batch size) on the function compiled for batch_sizes[size_index], on
  // this thread: inputs read in place when they fill the batch (per-call inputs always do) and are
  // aligned, else staged and padded with zeros; the outputs' first `rows` rows copied out.
  std::vector<Tensor> run_on(std::size_t size_index, const BatchPart& part) const {
    const HepinferAotPackage& table = library_.table();
    const std::int64_t batch = manifest_.batch_sizes[size_index];
    const std::vector<Tensor>& inputs = part.inputs;
    const std::int64_t rows = part.rows;
    const detail::InstancePool::Lease instance = pools_[size_index]->borrow();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& input = inputs[i];
      if ((rows == batch || part.per_call[i]) && is_aligned(input.raw_data())) {
        table.set_input(instance->function(), static_cast<std::int32_t>(i), input.raw_data());
        continue;
      }
      auto* staging = static_cast<std::byte*>(instance->staging(i));
      const std::size_t given = input.byte_size();
      std::memcpy(staging, input.raw_data(), given);
      const auto full = static_cast<std::size_t>(table.input_bytes(instance->function(), static_cast<std::int32_t>(i)));
      if (full > given) std::memset(staging + given, 0, full - given);
      table.set_input(instance->function(), static_cast<std::int32_t>(i), staging);
    }
    if (table.run(instance->function()) == 0) {
      throw BackendError("model '" + info_.path + "': the compiled function for batch " + std::to_string(batch) +
                         " failed: " + table.error(instance->function()));
    }
    std::vector<Tensor> outputs;
    outputs.reserve(manifest_.signature.outputs.size());
    for (std::size_t o = 0; o < manifest_.signature.outputs.size(); ++o) {
      const TensorInfo& info = manifest_.signature.outputs[o];
      std::vector<std::int64_t> dims = info.shape.dims();
      dims[0] = rows;
      Tensor output(info.dtype, Shape(std::move(dims)));
      std::memcpy(output.raw_data(), table.output(instance->function(), static_cast<std::int32_t>(o)), output.byte_size());
      outputs.push_back(std::move(output));
    }
    return outputs;
  }

  ModelInfo info_;
  detail::PackageManifest manifest_;
  detail::PackageLibrary library_;
  std::vector<bool> per_call_;  // per input of the one signature (core/per_call_inputs.h)
  std::vector<std::unique_ptr<detail::InstancePool>> pools_;  // one per batch size
};

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::string joined_sizes(const std::vector<std::int64_t>& sizes) {
  std::string text;
  for (const std::int64_t size : sizes) text += (text.empty() ? "" : ",") + std::to_string(size);
  return text;
}

std::string joined_levels(const std::vector<std::string>& levels) {
  std::string text;
  for (const std::string& level : levels) text += (text.empty() ? "" : ", ") + level;
  return text;
}

}  // namespace

bool is_aot_package(const fs::path& path) { return detail::is_package(path); }

std::vector<std::string> host_cpu_features() { return detail::host_features(); }

std::optional<PackageInfo> package_info(const Model& model) {
  const auto* aot_model = dynamic_cast<const AotModel*>(&model);
  if (aot_model == nullptr) return std::nullopt;
  const detail::PackageManifest& manifest = aot_model->manifest();
  return PackageInfo{.library = manifest.library,
                     .batch_sizes = manifest.batch_sizes,
                     .cpu_level = manifest.cpu_level,
                     .cpu_features = manifest.cpu_features,
                     .compiled_levels = manifest.compiled_levels,
                     .source = manifest.source,
                     .tensorflow_version = manifest.tensorflow_version,
                     .package_id = manifest.package_id};
}

std::optional<std::size_t> pooled_instances(const Model& model) {
  const auto* aot_model = dynamic_cast<const AotModel*>(&model);
  return aot_model == nullptr ? std::nullopt : std::optional<std::size_t>(aot_model->pooled_instances());
}

std::unique_ptr<Model> load_model(const fs::path& path, const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  detail::PackageManifest manifest = detail::read_package_manifest(path, detail::host_features());
  ModelInfo info;
  info.path = path.string();
  info.backend = "aot";
  info.format = "AOT package (" + manifest.cpu_level + ", from " + manifest.source + ")";
  info.signatures = {manifest.signature};
  info.default_signature = manifest.signature.key;
  info.threading = ThreadingMode::kInline;  // always: the compiled functions are plain calls
  info.device = "CPU (caller's thread)";
  info.batch_sizes = manifest.batch_sizes;
  if (options.placement && !options.placement->on_cpu()) {
    info.placement_note = "AOT packages run on the CPU; the placement on GPU " +
                          std::to_string(options.placement->devices.front()) + " is not followed";
  }
  info.load_details = {
      {"batch sizes", joined_sizes(manifest.batch_sizes)},
      {"target CPU", manifest.compiled_levels.size() > 1
                         ? manifest.cpu_level + " (of " + joined_levels(manifest.compiled_levels) + " in the package)"
                         : manifest.cpu_level},
      {"library", manifest.library.filename().string() + " (" + std::to_string(manifest.library_bytes / 1024) + " KiB)"},
      {"compiled by", "TensorFlow " + manifest.tensorflow_version},
      {"threads", "none: runs on the caller's thread"}};
  if (!manifest.tuning.empty()) info.load_details.emplace_back("tuned (batch: XLA options)", manifest.tuning);
  if (!info.placement_note.empty()) info.load_details.emplace_back("placement", info.placement_note);
  auto model = std::make_unique<AotModel>(std::move(info), std::move(manifest));

  LoadTiming timing;
  timing.load_ms = milliseconds_since(start);
  warm_up(*model, options, timing);
  model->set_timing(timing);
  return model;
}

}  // namespace hepinfer::aot
