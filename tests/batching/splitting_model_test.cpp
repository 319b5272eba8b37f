// SplittingModel on an in-process backend: splitting, concatenation, limits from budgets, and
// recovery from out-of-memory errors raised by a backend with capped scratch memory. The same with TensorFlow's
// allocator is in tests/tensorflow/memory_test.cpp.

#include "hepinfer/batching/splitting_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "error_message.h"
#include "row_model.h"

namespace hepinfer::batching {
namespace {

using ::testing::HasSubstr;

Tensor rows_of(std::int64_t rows, std::int64_t width = 4, float offset = 0) {
  Tensor x(DType::kFloat32, Shape({rows, width}));
  auto values = x.values<float>();
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = offset + static_cast<float>(i % 97) * 0.25f;
  return x;
}

void expect_identical(const std::vector<Tensor>& actual, const std::vector<Tensor>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t o = 0; o < actual.size(); ++o) {
    ASSERT_EQ(actual[o].shape(), expected[o].shape()) << "output " << o;
    const auto a = actual[o].values<float>(), e = expected[o].values<float>();
    EXPECT_TRUE(std::equal(a.begin(), a.end(), e.begin())) << "output " << o << " differs";
  }
}

TEST(SplittingModel, BatchesWithinTheLimitRunOnce) {
  auto backend = std::make_shared<test::RowModel>();
  SplittingModel model(backend, {.max_batch_rows = 64});
  const auto outputs = model.run({{"x", rows_of(64)}}, {});
  expect_identical(outputs, backend->run({{"x", rows_of(64)}}, {}));
  EXPECT_EQ(model.statistics().backend_runs, 1);
  EXPECT_EQ(model.statistics().split_runs, 0);
}

TEST(SplittingModel, LargerBatchesAreSplitAndConcatenated) {
  auto backend = std::make_shared<test::RowModel>();
  SplittingModel model(backend, {.max_batch_rows = 64});
  const Tensor x = rows_of(1000);
  const auto outputs = model.run({{"x", x}}, {});
  expect_identical(outputs, backend->run({{"x", x}}, {}));
  const SplitStatistics statistics = model.statistics();
  EXPECT_EQ(statistics.backend_runs, 16) << "ceil(1000 / 64)";
  EXPECT_EQ(statistics.split_runs, 1);
  EXPECT_EQ(statistics.batch_limit, 64);
}

TEST(SplittingModel, ScalarInputsGoWholeToEveryChunk) {
  auto backend = std::make_shared<test::RowModel>();
  SplittingModel model(backend, {.max_batch_rows = 7});
  const std::vector<NamedTensor> inputs{{"x", rows_of(50)}, {"scale", Tensor::from_values<float>(Shape({}), {3.0f})}};
  expect_identical(model.run(inputs, {}), backend->run(inputs, {}));
}

// A per-call input whose first dimension the signature fixes is not rows, even when it has as many
// as the batch: the chunks get it whole.
TEST(SplittingModel, PerCallInputsGoWholeToEveryChunk) {
  auto backend = std::make_shared<test::RowModel>();
  SplittingModel model(backend, {.max_batch_rows = 1});
  const std::vector<NamedTensor> inputs{{"x", rows_of(2)}, {"bias", Tensor::from_values<float>(Shape({2}), {0.5f, 4.0f})}};
  expect_identical(model.run(inputs, {}), backend->run(inputs, {}));
  EXPECT_EQ(model.statistics().backend_runs, 2);
}

TEST(SplittingModel, EmptyAndSingleRowBatchesPassThrough) {
  auto backend = std::make_shared<test::RowModel>();
  SplittingModel model(backend, {.max_batch_rows = 1});
  EXPECT_EQ(model.run({{"x", rows_of(0)}}, {})[0].rows(), 0);
  EXPECT_EQ(model.run({{"x", rows_of(1)}}, {})[0].rows(), 1);
  EXPECT_EQ(model.run({{"x", rows_of(3)}}, {})[0].rows(), 3);
  EXPECT_EQ(backend->runs.load(), 5);
}

TEST(SplittingModel, OutOfMemoryHalvesTheChunkAndLowersTheLimitOnce) {
  // A run may use scratch for 100 rows of 4 floats (8 bytes per element).
  auto backend = std::make_shared<test::RowModel>(100 * 4 * 8);
  std::vector<std::string> reports;
  SplittingModel model(backend, {.on_out_of_memory = [&](const std::string& message) { reports.push_back(message); }});
  const Tensor x = rows_of(1000);
  const auto outputs = model.run({{"x", x}}, {});
  expect_identical(outputs, SplittingModel(std::make_shared<test::RowModel>(), {.max_batch_rows = 10}).run({{"x", x}}, {}));
  EXPECT_LE(model.batch_limit(), 100);
  EXPECT_GE(model.batch_limit(), 50) << "halving stops at the first size that fits";
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_THAT(reports[0], HasSubstr("row_model"));
  EXPECT_THAT(reports[0], HasSubstr("ran out of memory at 1000 rows"));
  EXPECT_GT(model.statistics().out_of_memory_retries, 0);

  const std::int64_t retries = model.statistics().out_of_memory_retries;
  expect_identical(model.run({{"x", x}}, {}), outputs);
  EXPECT_EQ(model.statistics().out_of_memory_retries, retries) << "the lowered limit is remembered";
  EXPECT_EQ(reports.size(), 1u) << "reported once per model";
}

TEST(SplittingModel, AfterOutOfMemoryTheLimitIsABatchSizeTheBackendRunsAsItIs) {
  // Runs are padded to 1, 16 or 64 rows, as an XLA artifact's programs; 16 padded rows fit.
  auto backend = std::make_shared<test::RowModel>(16 * 4 * 8, std::nullopt, std::vector<std::int64_t>{1, 16, 64});
  SplittingModel model(backend, {.on_out_of_memory = [](const std::string&) {}});
  const Tensor x = rows_of(64);
  expect_identical(model.run({{"x", x}}, {}),
                   SplittingModel(std::make_shared<test::RowModel>(), {.max_batch_rows = 10}).run({{"x", x}}, {}));
  EXPECT_EQ(model.batch_limit(), 16) << "not 32 rows, which would run padded to 64 and fail again";
  EXPECT_EQ(model.statistics().out_of_memory_retries, 1);
  EXPECT_EQ(model.statistics().backend_runs, 5) << "the failed 64 rows, then four runs of 16";

  // A chunk that fails inside a split is run again in pieces of the lowered limit, too.
  SplittingModel capped(backend, {.max_batch_rows = 64, .on_out_of_memory = [](const std::string&) {}});
  expect_identical(capped.run({{"x", rows_of(128)}}, {}),
                   SplittingModel(std::make_shared<test::RowModel>(), {.max_batch_rows = 10}).run({{"x", rows_of(128)}}, {}));
  EXPECT_EQ(capped.batch_limit(), 16);
  EXPECT_EQ(capped.statistics().out_of_memory_retries, 1);
}

TEST(SplittingModel, WhenNotEvenOneRowFitsTheErrorSaysSo) {
  auto backend = std::make_shared<test::RowModel>(16);  // less than one row of 4 floats
  SplittingModel model(backend, {.on_out_of_memory = [](const std::string&) {}});
  const std::string message = test::error_message_of<ResourceExhaustedError>([&] { model.run({{"x", rows_of(40)}}, {}); });
  EXPECT_THAT(message, HasSubstr("even one row"));
  EXPECT_THAT(message, HasSubstr("row_model"));
  EXPECT_THAT(message, HasSubstr("OOM when allocating"));
}

TEST(SplittingModel, WhenOneRowExceedsTheBudgetTheErrorGivesBudgetAndMeasuredNeed) {
  // The model's measured need is wrong (too small), so the budget admits rows that then fail.
  const MemoryModel underestimate{.fixed_bytes = 0, .bytes_per_row = 1};
  SplittingModel model(std::make_shared<test::RowModel>(16, underestimate),
                       {.memory_budget_bytes = 2 * 1024 * 1024, .on_out_of_memory = [](const std::string&) {}});
  const std::string message = test::error_message_of<ResourceExhaustedError>([&] { model.run({{"x", rows_of(8)}}, {}); });
  EXPECT_THAT(message, HasSubstr("budget 2 MiB"));
  EXPECT_THAT(message, HasSubstr("measured need 0 B + 1 B per row"));
}

TEST(SplittingModel, TheLimitFollowsFromTheBudgetAndTheMemoryModel) {
  const MemoryModel memory{.fixed_bytes = 1000, .bytes_per_row = 100};
  auto backend = std::make_shared<test::RowModel>(0, memory);
  EXPECT_EQ(SplittingModel(backend, {.memory_budget_bytes = 1000 + 100 * 250}).batch_limit(), 250);
  EXPECT_EQ(SplittingModel(backend, {.max_batch_rows = 20, .memory_budget_bytes = 1000 + 100 * 250}).batch_limit(), 20)
      << "an explicit cap below the budget wins";
  const std::string message = test::error_message_of<ResourceExhaustedError>(
      [&] { SplittingModel(backend, {.memory_budget_bytes = 1050}); });
  EXPECT_THAT(message, HasSubstr("cannot hold one row"));
  EXPECT_THAT(message, HasSubstr("1000 B + 100 B per row"));
  EXPECT_THROW(SplittingModel(std::make_shared<test::RowModel>(), {.memory_budget_bytes = 5000}), InvalidArgumentError)
      << "a budget needs a memory model";
  EXPECT_THROW(SplittingModel(backend, {.max_batch_rows = -1}), InvalidArgumentError);
}

TEST(SplittingModel, OutputsThatAreNotPerRowCannotBeSplit) {
  class SummaryModel final : public Model {
   public:
    const ModelInfo& info() const override { return info_; }
    std::vector<Tensor> run(const std::vector<NamedTensor>&, const std::vector<std::string>&,
                            const RunOptions&) const override {
      return {Tensor(DType::kFloat32, Shape({1, 3}))};  // one summary row whatever the batch
    }
    ModelInfo info_{.path = "summary_model",
                    .default_signature = "serving_default",
                    .signatures = {{.key = "serving_default", .outputs = {{.key = "summary"}}}}};
  };
  SplittingModel model(std::make_shared<SummaryModel>(), {.max_batch_rows = 4});
  // Named by the run's name for it, else by its signature's key.
  const std::string message = test::error_message_of<ShapeMismatchError>([&] { model.run({{"x", rows_of(10)}}, {}); });
  EXPECT_THAT(message, HasSubstr("output 'summary' is float32[1, 3] for a chunk of 4 rows"));
  EXPECT_THAT(message, HasSubstr("one output row per input row"));
  EXPECT_THAT(test::error_message_of<ShapeMismatchError>([&] { model.run({{"x", rows_of(10)}}, {"mean"}); }),
              HasSubstr("output 'mean' is"));
}

TEST(SplittingModel, ConcurrentCallersUnderMemoryPressureAllGetTheirOwnRows) {
  auto backend = std::make_shared<test::RowModel>(300 * 4 * 8);
  SplittingModel model(backend, {.on_out_of_memory = [](const std::string&) {}});
  auto reference = std::make_shared<test::RowModel>();
  std::vector<std::thread> callers;
  std::atomic<int> mismatches{0}, checked{0};
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      for (int i = 0; i < 50; ++i) {
        const Tensor x = rows_of(std::uniform_int_distribution<std::int64_t>(1, 400)(random), 4, static_cast<float>(t));
        const auto got = model.run({{"x", x}}, {});
        const auto want = reference->run({{"x", x}}, {});
        const auto a = got[0].values<float>(), e = want[0].values<float>();
        if (got[0].shape() != want[0].shape() || !std::equal(a.begin(), a.end(), e.begin())) ++mismatches;
        ++checked;
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(checked.load(), 400);
}

}  // namespace
}  // namespace hepinfer::batching
