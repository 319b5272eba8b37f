// One loaded model shared by many threads: every output belongs to its own input.

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "hepinfer/core/npy.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer {
namespace {

constexpr int kThreads = 8;
constexpr int kRunsPerThread = 150;

// Distinct inputs: row r of input i is filled with values derived from i and r.
Tensor make_input(int index, std::int64_t rows, std::int64_t features) {
  Tensor tensor(DType::kFloat32, {rows, features});
  auto values = tensor.values<float>();
  for (std::size_t k = 0; k < values.size(); ++k) {
    values[k] = static_cast<float>(std::sin(0.37 * static_cast<double>(index) + 0.011 * static_cast<double>(k)));
  }
  return tensor;
}

TEST(Concurrency, SharedMlpGivesEachThreadItsOwnResult) {
  const auto model = tf::load_model(test::test_model("mlp").formats.at("saved_model").path);
  constexpr int kDistinctInputs = 32;
  std::vector<Tensor> inputs, expected;
  for (int i = 0; i < kDistinctInputs; ++i) {
    inputs.push_back(make_input(i, 1 + i % 7, 32));
    expected.push_back(model->run({{"x", inputs.back()}}, {"output_0"})[0]);
  }

  std::atomic<int> mismatches{0}, runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int r = 0; r < kRunsPerThread; ++r) {
        const int pick = static_cast<int>(rng() % kDistinctInputs);
        const Tensor output = model->run({{"x", inputs[pick]}}, {"output_0"})[0];
        if (!test::tensors_match(output, expected[pick], 1e-6)) ++mismatches;
        ++runs;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(runs.load(), kThreads * kRunsPerThread);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Concurrency, SharedDTypesModelIsExactUnderContention) {
  const auto model = tf::load_model(test::test_model("dtypes").formats.at("frozen_graph").path);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRunsPerThread; ++r) {
        const std::int64_t rows = 1 + (t + r) % 9;
        const std::int64_t tag = t * 100000 + r;
        Tensor i64(DType::kInt64, {rows, 3});
        for (auto& value : i64.values<std::int64_t>()) value = tag;
        const Tensor output = model->run({{"i64", i64}}, {"Identity_6"})[0];  // i64 + 7
        for (std::int64_t value : output.values<std::int64_t>()) {
          if (value != tag + 7) ++mismatches;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace hepinfer
