#pragma once
// A small in-process backend for batching tests that need no TensorFlow. It does real work on
// real tensors, row by row: for input "x" (float32 [rows, k]) and the optional per-call inputs
// "scale" (a scalar) and "bias" (float32 [2]: the signature fixes its first dimension), output
// "sum" is float32 [rows] (scale * the row's sum + both biases) and "doubled" is float32 [rows, k].
// Each run needs 8 bytes of scratch memory per element; a run that needs more than the cap
// throws ResourceExhaustedError, as TF's allocator does when a device's memory runs out. Given
// batch sizes, a run's scratch is counted at its rows padded up to the next of them, as an XLA
// artifact's programs run.

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "hepinfer/core/error.h"
#include "hepinfer/core/model.h"

namespace hepinfer::test {

class RowModel final : public Model {
 public:
  explicit RowModel(std::int64_t scratch_cap_bytes = 0, std::optional<MemoryModel> memory = std::nullopt,
                    std::vector<std::int64_t> batch_sizes = {})
      : cap_(scratch_cap_bytes) {
    info_.batch_sizes = std::move(batch_sizes);
    info_.path = "row_model";
    info_.default_signature = "serving_default";
    SignatureInfo signature{"serving_default",
                            {{"x", "x:0", DType::kFloat32, Shape({-1, -1})},
                             {"scale", "scale:0", DType::kFloat32, Shape({})},
                             {"bias", "bias:0", DType::kFloat32, Shape({2})}},
                            {{"sum", "sum:0", DType::kFloat32, Shape({-1})},
                             {"doubled", "doubled:0", DType::kFloat32, Shape({-1, -1})}}};
    info_.signatures.push_back(signature);
    info_.memory = memory;
  }

  const ModelInfo& info() const override { return info_; }

  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>&,
                          const RunOptions& = {}) const override {
    const Tensor* x = nullptr;
    float scale = 1.0f, bias = 0.0f;
    for (const NamedTensor& input : inputs) {
      if (input.name == "x") x = &input.tensor;
      if (input.name == "scale") scale = input.tensor.values<float>()[0];
      if (input.name == "bias") {
        if (input.tensor.shape() != Shape({2})) {
          throw ShapeMismatchError("row_model: input 'bias' must be float32[2], got " + input.tensor.description());
        }
        bias = input.tensor.values<float>()[0] + input.tensor.values<float>()[1];
      }
    }
    if (x == nullptr) throw InvalidArgumentError("row_model needs input 'x'");
    runs.fetch_add(1);
    const std::int64_t rows = x->rows(), width = x->shape()[1];
    const auto padded = std::lower_bound(info_.batch_sizes.begin(), info_.batch_sizes.end(), rows);
    const std::int64_t scratch = (padded == info_.batch_sizes.end() ? rows : *padded) * width * 8;
    if (cap_ > 0 && scratch > cap_) {
      throw ResourceExhaustedError("OOM when allocating " + std::to_string(scratch) + " bytes for " +
                                   std::to_string(rows) + " rows");
    }
    Tensor sum(DType::kFloat32, Shape({rows})), doubled(DType::kFloat32, Shape({rows, width}));
    const auto in = x->values<float>();
    auto sums = sum.values<float>();
    auto twice = doubled.values<float>();
    for (std::int64_t r = 0; r < rows; ++r) {
      float total = 0;
      for (std::int64_t c = 0; c < width; ++c) {
        total += in[r * width + c];
        twice[r * width + c] = 2 * in[r * width + c];
      }
      sums[r] = scale * total + bias;
    }
    return {sum, doubled};
  }

  mutable std::atomic<int> runs{0};

 private:
  ModelInfo info_;
  std::int64_t cap_;
};

}  // namespace hepinfer::test
