#include "hepinfer/core/example_inputs.h"

#include <chrono>
#include <random>
#include <string>

#include "hepinfer/core/error.h"

namespace hepinfer {

std::vector<NamedTensor> example_inputs(const ModelInfo& info, std::int64_t rows, std::string_view purpose,
                                        std::optional<std::uint32_t> seed) {
  if (rows < 0) {
    throw InvalidArgumentError("model '" + info.path + "': " + std::string(purpose) + " batch size " +
                               std::to_string(rows) + " is negative");
  }
  std::mt19937 random(seed.value_or(0));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<NamedTensor> inputs;
  for (const TensorInfo& input : info.signature(info.default_signature).inputs) {
    if (!input.shape.rank_known()) {
      throw InvalidArgumentError("model '" + info.path + "': cannot " + std::string(purpose) + ", input '" +
                                 input.key + "' has unknown rank");
    }
    std::vector<std::int64_t> dims = input.shape.dims();
    for (std::size_t axis = 0; axis < dims.size(); ++axis) {
      if (dims[axis] < 0) dims[axis] = axis == 0 ? rows : 1;
    }
    Tensor tensor(input.dtype, Shape(std::move(dims)));
    if (seed && input.dtype == DType::kFloat32) {
      for (float& value : tensor.values<float>()) value = static_cast<float>(uniform(random));
    } else if (seed && input.dtype == DType::kFloat64) {
      for (double& value : tensor.values<double>()) value = uniform(random);
    } else if (seed && input.dtype == DType::kFloat16) {
      for (Float16& value : tensor.values<Float16>()) value = Float16::from_float(static_cast<float>(uniform(random)));
    }
    inputs.push_back({input.key, std::move(tensor)});
  }
  return inputs;
}

void warm_up(const Model& model, const LoadOptions& options, LoadTiming& timing) {
  const auto start = std::chrono::steady_clock::now();
  if (options.warmup_runs > 0) {
    for (const std::int64_t batch : options.warmup_batch_sizes) {
      const std::vector<NamedTensor> inputs = example_inputs(model.info(), batch, "warm up");
      for (int run = 0; run < options.warmup_runs; ++run) {
        model.run(inputs, {});
        ++timing.warmup_runs;
      }
    }
  }
  timing.warmup_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace hepinfer
