// load_model: the format's loader, then warm-up and the memory measurement the options ask for.
#include "hepinfer/tensorflow/tf_model.h"

#include <chrono>

#include "graph_loaders.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/example_inputs.h"
#include "tensorflow/c/c_api.h"

namespace hepinfer::tf {
namespace {

namespace fs = std::filesystem;

// Fits fixed + per-row bytes through the traced need at two batch sizes.
MemoryModel measure_memory(const TfModel& model, const LoadOptions& options) {
  const auto [small, large] = options.memory_probe_rows;
  if (small < 1 || large <= small) {
    throw InvalidArgumentError("model '" + model.info().path + "': memory probe rows must be 1 <= small < large, got " +
                               std::to_string(small) + " and " + std::to_string(large));
  }
  const std::int64_t small_need = model.traced_need(example_inputs(model.info(), small, "measure memory"));
  const std::int64_t large_need = model.traced_need(example_inputs(model.info(), large, "measure memory"));
  MemoryModel memory;
  memory.bytes_per_row = std::max<std::int64_t>(0, (large_need - small_need + (large - small) - 1) / (large - small));
  memory.fixed_bytes = std::max<std::int64_t>(0, small_need - small * memory.bytes_per_row);
  return memory;
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::unique_ptr<Model> load_model(const fs::path& path, const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw FileNotFoundError("model path '" + path.string() + "' does not exist");
  std::unique_ptr<TfModel> model =
      fs::is_directory(status) ? load_saved_model(path, options) : load_frozen_graph(path, options);

  LoadTiming timing;
  timing.load_ms = milliseconds_since(start);
  warm_up(*model, options, timing);
  if (options.measure_memory) model->set_memory(measure_memory(*model, options));
  model->set_timing(timing);
  return model;
}

std::string runtime_version() { return TF_Version(); }

}  // namespace hepinfer::tf
