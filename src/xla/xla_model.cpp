#include "hepinfer/xla/xla_model.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>
#include <sstream>

#include "artifact.h"
#include "client_placement.h"
#include "executable_cache.h"
#include "hepinfer/core/empty_batch.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/example_inputs.h"
#include "hepinfer/core/file_read.h"
#include "hepinfer/xla/pjrt_plugin.h"
#include "pjrt_program.h"

namespace hepinfer::xla {
namespace {

namespace fs = std::filesystem;

struct CompiledBatch {
  std::int64_t rows = 0;
  std::unique_ptr<detail::PjrtProgram> program;
};

// `tensor` with `rows` rows: its own rows first, zeros after.
// A run names a tensor by its signature key or, as for the TF backend, by its graph tensor name
// ("x:0"; "x" means "x:0").
bool is_named(const TensorInfo& info, const std::string& name) {
  return name == info.key || name == info.tensor_name || name + ":0" == info.tensor_name;
}

Tensor padded(const Tensor& tensor, std::int64_t rows) {
  std::vector<std::int64_t> dims = tensor.shape().dims();
  dims[0] = rows;
  Tensor result(tensor.dtype(), Shape(std::move(dims)));
  if (tensor.byte_size() > 0) std::memcpy(result.raw_data(), tensor.raw_data(), tensor.byte_size());
  return result;
}

class XlaModel final : public Model {
 public:
  XlaModel(ModelInfo info, std::shared_ptr<const PjrtClient> client, std::vector<CompiledBatch> batches)
      : info_(std::move(info)), client_(std::move(client)), batches_(std::move(batches)) {}

  const ModelInfo& info() const override { return info_; }
  void set_timing(const LoadTiming& timing) { info_.timing = timing; }
  const PjrtClient& client() const { return *client_; }
  const XlaLoadReport& load_report() const { return load_report_; }
  void set_load_report(XlaLoadReport report) { load_report_ = std::move(report); }

  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options) const override {
    const SignatureInfo& signature = info_.signature(options.signature.empty() ? info_.default_signature : options.signature);
    const std::vector<Tensor> ordered = ordered_inputs(signature, inputs);
    const std::vector<std::size_t> selected = selected_outputs(signature, output_names);
    std::vector<const TensorInfo*> selected_infos;
    for (const std::size_t index : selected) selected_infos.push_back(&signature.outputs[index]);

    const std::int64_t rows = ordered.front().rows();
    if (rows == 0) return *empty_outputs_from_metadata(selected_infos);  // every output is [-1, known...]
    const std::vector<Tensor> all = run_rows(ordered, rows);
    std::vector<Tensor> outputs;
    for (const std::size_t index : selected) outputs.push_back(all[index]);
    return outputs;
  }

 private:
  // The inputs in the programs' parameter order, checked against the signature.
  std::vector<Tensor> ordered_inputs(const SignatureInfo& signature, const std::vector<NamedTensor>& inputs) const {
    std::vector<Tensor> ordered;
    for (const TensorInfo& expected : signature.inputs) {
      const auto given = std::find_if(inputs.begin(), inputs.end(),
                                      [&](const NamedTensor& input) { return is_named(expected, input.name); });
      if (given == inputs.end()) {
        throw InvalidArgumentError("model '" + info_.path + "': input '" + expected.key + "' (" +
                                   std::string(dtype_name(expected.dtype)) + expected.shape.to_string() +
                                   ") was not given");
      }
      check_input_matches(expected, given->tensor, info_.path);
      if (!ordered.empty() && given->tensor.rows() != ordered.front().rows()) {
        throw ShapeMismatchError("model '" + info_.path + "': input '" + expected.key + "' has " +
                                 std::to_string(given->tensor.rows()) + " rows, input '" + signature.inputs[0].key +
                                 "' " + std::to_string(ordered.front().rows()) + "; every input needs the same rows");
      }
      ordered.push_back(given->tensor);
    }
    for (const NamedTensor& input : inputs) {
      if (std::none_of(signature.inputs.begin(), signature.inputs.end(),
                       [&](const TensorInfo& info) { return is_named(info, input.name); })) {
        std::string keys;
        for (const TensorInfo& info : signature.inputs) keys += (keys.empty() ? "'" : ", '") + info.key + "'";
        throw NotFoundError("model '" + info_.path + "': '" + input.name + "' is not an input of signature '" +
                            signature.key + "' (" + keys + ")");
      }
    }
    if (ordered.size() != inputs.size()) {
      throw InvalidArgumentError("model '" + info_.path + "': an input is fed twice");
    }
    return ordered;
  }

  std::vector<std::size_t> selected_outputs(const SignatureInfo& signature, const std::vector<std::string>& names) const {
    std::vector<std::size_t> selected;
    if (names.empty()) {
      for (std::size_t i = 0; i < signature.outputs.size(); ++i) selected.push_back(i);
      return selected;
    }
    for (const std::string& name : names) {
      const auto found = std::find_if(signature.outputs.begin(), signature.outputs.end(),
                                      [&](const TensorInfo& output) { return is_named(output, name); });
      if (found == signature.outputs.end()) {
        std::string keys;
        for (const TensorInfo& info : signature.outputs) keys += (keys.empty() ? "'" : ", '") + info.key + "'";
        throw NotFoundError("model '" + info_.path + "': '" + name + "' is not an output of signature '" +
                            signature.key + "' (" + keys + ")");
      }
      selected.push_back(static_cast<std::size_t>(found - signature.outputs.begin()));
    }
    return selected;
  }

  // All outputs for `rows` (> 0) rows: on the smallest compiled batch that holds them, or split
  // over the largest.
  std::vector<Tensor> run_rows(const std::vector<Tensor>& inputs, std::int64_t rows) const {
    const CompiledBatch& largest = batches_.back();
    if (rows > largest.rows) {
      std::vector<std::vector<Tensor>> parts;
      for (std::int64_t begin = 0; begin < rows; begin += largest.rows) {
        const std::int64_t end = std::min(rows, begin + largest.rows);
        std::vector<Tensor> chunk;
        for (const Tensor& input : inputs) chunk.push_back(input.slice_rows(begin, end));
        parts.push_back(run_rows(chunk, end - begin));
      }
      std::vector<Tensor> outputs;
      for (std::size_t o = 0; o < parts.front().size(); ++o) {
        std::vector<Tensor> pieces;
        for (const auto& part : parts) pieces.push_back(part[o]);
        outputs.push_back(concat_rows(pieces, "output " + std::to_string(o) + " of '" + info_.path + "'"));
      }
      return outputs;
    }
    const CompiledBatch& batch =
        *std::find_if(batches_.begin(), batches_.end(), [&](const CompiledBatch& b) { return b.rows >= rows; });
    std::vector<Tensor> fed;
    for (const Tensor& input : inputs) fed.push_back(rows == batch.rows ? input : padded(input, batch.rows));
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
  XlaLoadReport load_report_;
};

// Everything a compiled program depends on besides its source (see executable_cache.h).
std::string cache_key(const PjrtClient& client, const std::string& code, const std::string& format) {
  const PjrtPluginInfo& plugin = client.plugin().info();
  std::error_code ec;
  const auto size = fs::file_size(plugin.path, ec);
  const auto modified = fs::last_write_time(plugin.path, ec).time_since_epoch().count();
  const PjrtDeviceInfo device = client.devices().front();
  std::ostringstream key;
  key << "program " << detail::fingerprint(code) << " " << code.size() << " " << format << "\n"
      << "compile options " << detail::fingerprint(detail::kCompileOptions) << "\n"
      << "plugin " << fs::weakly_canonical(plugin.path, ec).string() << " " << size << " " << modified << " api "
      << plugin.api_major << "." << plugin.api_minor << "\n"
      << "platform " << client.platform_name() << " " << client.platform_version() << "\n"
      << "device " << device.id << " " << device.kind << " " << device.description << "\n"
      << "host " << detail::host_cpu_identity() << "\n";
  return key.str();
}

// The program for `code`: from the cache when it holds one, else compiled (and then cached).
std::unique_ptr<detail::PjrtProgram> program_for(const std::shared_ptr<const PjrtClient>& client,
                                                 const detail::ExecutableCache& cache, const std::string& code,
                                                 const std::string& format, const std::string& what,
                                                 bool& from_cache) {
  from_cache = false;
  std::string key;
  if (cache.enabled()) {
    key = cache_key(*client, code, format);
    if (const std::optional<std::string> serialized = cache.find(key)) {
      try {
        auto program = detail::PjrtProgram::deserialize(client, *serialized, what);
        from_cache = true;
        return program;
      } catch (const Error&) {
        // An entry this plugin does not take after all: compile, and replace it.
      }
    }
  }
  auto program = detail::PjrtProgram::compile(client, code, format, what);
  if (cache.enabled()) {
    try {
      cache.store(key, program->serialize());
    } catch (const Error&) {
      // A plugin that cannot serialize: nothing to cache.
    }
  }
  return program;
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
  const detail::Artifact artifact = detail::read_artifact(path);
  detail::PlacedClient placed = detail::place_client(options, xla_options, path.string());
  const std::shared_ptr<const PjrtClient>& client = placed.client;
  detail::check_stablehlo_readable(artifact, client->plugin().info());
  const detail::ExecutableCache cache(xla_options.compile_cache.value_or(detail::ExecutableCache::default_directory()));
  XlaLoadReport report{.programs = artifact.programs.size(), .programs_from_cache = 0, .cache = cache.directory()};
  std::vector<CompiledBatch> batches;
  for (const detail::ArtifactProgram& program : artifact.programs) {
    const std::string what = "program '" + program.file.string() + "' (batch " + std::to_string(program.batch) + ")";
    bool from_cache = false;
    auto compiled =
        program_for(client, cache, read_regular_file(program.file, "XLA program"), program.format, what, from_cache);
    report.programs_from_cache += from_cache ? 1 : 0;
    if (compiled->num_outputs() != artifact.signature.outputs.size()) {
      throw InvalidModelError("XLA artifact '" + path.string() + "': " + what + " has " +
                              std::to_string(compiled->num_outputs()) + " outputs, the manifest lists " +
                              std::to_string(artifact.signature.outputs.size()));
    }
    batches.push_back({program.batch, std::move(compiled)});
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
      {"compile cache", report.cache.empty() ? "off" : report.cache.string()}};
  if (!info.placement_note.empty()) info.load_details.emplace_back("placement", info.placement_note);
  auto model = std::make_unique<XlaModel>(std::move(info), std::move(placed.client), std::move(batches));
  model->set_load_report(std::move(report));

  LoadTiming timing;
  timing.load_ms = milliseconds_since(start);
  const auto warmup_start = std::chrono::steady_clock::now();
  for (int run = 0; run < options.warmup_runs; ++run) {
    for (const std::int64_t rows : options.warmup_batch_sizes) {
      model->run(example_inputs(model->info(), rows, "warm up"), {}, RunOptions{});
      ++timing.warmup_runs;
    }
  }
  timing.warmup_ms = milliseconds_since(warmup_start);
  model->set_timing(timing);
  return model;
}

}  // namespace hepinfer::xla
