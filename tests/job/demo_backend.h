#pragma once
// In-process stand-ins for the demo job's three models, so that the harness is tested without
// TensorFlow (and under ThreadSanitizer). They do real work on the event's tensors: the jet
// tagger and the event classifier return a softmax per row, particle flow the sum of each row.
// `fail_at_rows` makes a run with exactly that many rows throw; `nan_at_rows` makes it return NaN.
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include "hepinfer/core/error.h"
#include "hepinfer/core/model.h"
#include "job/inference_module.h"

namespace hepinfer::test {

class DemoModel final : public Model {
 public:
  explicit DemoModel(framework::ModuleKind kind, std::int64_t fail_at_rows = -1, std::int64_t nan_at_rows = -1,
                     std::optional<int> gpu = std::nullopt, std::string placement_note = {})
      : kind_(kind), fail_at_rows_(fail_at_rows), nan_at_rows_(nan_at_rows) {
    info_.gpu = gpu;
    info_.placement_note = std::move(placement_note);
    info_.path = std::string("demo_") + std::string(framework::module_kind_name(kind));
    info_.default_signature = "serving_default";
    info_.signatures.push_back({"serving_default", {}, {{"out", "out:0", DType::kFloat32, Shape({-1, -1})}}});
    info_.memory = MemoryModel{1024, 64};
  }

  const ModelInfo& info() const override { return info_; }

  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>&,
                          const RunOptions& = {}) const override {
    const std::string wanted = kind_ == framework::ModuleKind::kJetTagger        ? "jets"
                               : kind_ == framework::ModuleKind::kEventClassifier ? "event"
                                                                                  : "particles";
    const Tensor* features = nullptr;
    for (const NamedTensor& input : inputs) {
      if (input.name == wanted) features = &input.tensor;
    }
    if (features == nullptr) throw NotFoundError(info_.path + ": needs input '" + wanted + "'");
    const std::int64_t rows = features->rows(), width = features->shape()[1];
    if (rows == fail_at_rows_) throw BackendError(info_.path + ": failing on purpose at " + std::to_string(rows) + " rows");
    runs.fetch_add(1);
    const auto in = features->values<float>();
    const std::int64_t classes = kind_ == framework::ModuleKind::kParticleFlow ? 1 : 3;
    Tensor out(DType::kFloat32, Shape({rows, classes}));
    auto values = out.values<float>();
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* row = in.data() + r * width;
      if (classes == 1) {
        float total = 0;
        for (std::int64_t c = 0; c < width; ++c) total += row[c];
        values[r] = total;
        continue;
      }
      float denominator = 0;
      for (std::int64_t c = 0; c < classes; ++c) denominator += std::exp(row[c]);
      for (std::int64_t c = 0; c < classes; ++c) values[r * classes + c] = std::exp(row[c]) / denominator;
    }
    if (rows == nan_at_rows_) values[0] = std::nanf("");
    return {out};
  }

  mutable std::atomic<int> runs{0};

 private:
  framework::ModuleKind kind_;
  std::int64_t fail_at_rows_, nan_at_rows_;
  ModelInfo info_;
};

// The stand-ins "run" on the device their assignment names, as a backend with that device would.
inline framework::ModelLoader demo_loader(std::int64_t fail_at_rows = -1, std::int64_t nan_at_rows = -1) {
  return [=](const framework::ModuleSetup& setup, const scheduler::Assignment& assignment) {
    const std::optional<int> gpu = assignment.on_cpu() ? std::nullopt : std::optional<int>(assignment.devices.front());
    return std::make_shared<DemoModel>(setup.kind, fail_at_rows, nan_at_rows, gpu);
  };
}

// Stand-ins that run on the CPU whatever the plan says, as a backend without GPUs does.
inline framework::ModelLoader cpu_only_demo_loader() {
  return [](const framework::ModuleSetup& setup, const scheduler::Assignment& assignment) {
    const std::string note = assignment.on_cpu() ? "" : "this stand-in backend has no GPU";
    return std::make_shared<DemoModel>(setup.kind, -1, -1, std::nullopt, note);
  };
}

}  // namespace hepinfer::test
