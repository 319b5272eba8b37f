// DynamicBatcher on the in-process RowModel: every requester gets exactly its own rows back,
// requests coalesce, oversized requests are split, errors stay with the request that caused
// them, and destruction completes what is pending.

#include "hepinfer/batching/dynamic_batcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <barrier>
#include <random>
#include <thread>

#include "error_message.h"
#include "row_model.h"

namespace hepinfer::batching {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Rows whose values encode the requester and the request, so that a misrouted row shows.
Tensor request_rows(std::int64_t rows, int requester, int request) {
  Tensor x(DType::kFloat32, Shape({rows, 3}));
  auto values = x.values<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    values[r * 3] = static_cast<float>(requester);
    values[r * 3 + 1] = static_cast<float>(request);
    values[r * 3 + 2] = static_cast<float>(r);
  }
  return x;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const auto x = a.values<float>(), y = b.values<float>();
  return std::equal(x.begin(), x.end(), y.begin());
}

TEST(DynamicBatcher, ASingleRequestGetsTheModelsAnswer) {
  auto backend = std::make_shared<test::RowModel>();
  DynamicBatcher batcher(backend, {.max_batch_rows = 16, .max_delay = 0us});
  const Tensor x = request_rows(5, 1, 2);
  const auto outputs = batcher.run({{"x", x}}, {});
  const auto expected = backend->run({{"x", x}}, {});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(same_values(outputs[0], expected[0]));
  EXPECT_TRUE(same_values(outputs[1], expected[1]));
}

TEST(DynamicBatcher, SixtyFourThreadsGetExactlyTheirOwnRows) {
  auto backend = std::make_shared<test::RowModel>();
  auto reference = std::make_shared<test::RowModel>();
  DynamicBatcher batcher(backend, {.max_batch_rows = 32, .max_delay = 200us});
  constexpr int kThreads = 64, kRequests = 60;
  std::atomic<int> wrong{0}, checked{0};
  std::vector<std::thread> requesters;
  for (int t = 0; t < kThreads; ++t) {
    requesters.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      for (int i = 0; i < kRequests; ++i) {
        // Mostly small requests; a few larger than the limit, which are split.
        const std::int64_t rows = i % 17 == 16 ? 70 : std::uniform_int_distribution<std::int64_t>(1, 8)(random);
        const Tensor x = request_rows(rows, t, i);
        std::vector<Tensor> outputs;
        if (i % 2 == 0) {
          outputs = batcher.run({{"x", x}}, {});
        } else {
          outputs = batcher.submit({{"x", x}}, {}).get();
        }
        const auto expected = reference->run({{"x", x}}, {});
        if (!same_values(outputs[0], expected[0]) || !same_values(outputs[1], expected[1])) ++wrong;
        ++checked;
      }
    });
  }
  for (auto& requester : requesters) requester.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(checked.load(), kThreads * kRequests);
  const BatcherStatistics statistics = batcher.statistics();
  EXPECT_EQ(statistics.requests, kThreads * kRequests);
  EXPECT_EQ(statistics.failed_requests, 0);
  EXPECT_LT(statistics.executions, statistics.requests) << "requests were coalesced";
  EXPECT_GT(statistics.mean_batch_rows, 1.0);
}

TEST(DynamicBatcher, ConcurrentRequestsShareOneRun) {
  auto backend = std::make_shared<test::RowModel>();
  DynamicBatcher batcher(backend, {.max_batch_rows = 8, .max_delay = 2s});
  std::barrier start(8);
  std::vector<std::thread> requesters;
  for (int t = 0; t < 8; ++t) {
    requesters.emplace_back([&, t] {
      start.arrive_and_wait();
      batcher.run({{"x", request_rows(1, t, 0)}}, {});
    });
  }
  for (auto& requester : requesters) requester.join();
  EXPECT_EQ(backend->runs.load(), 1) << "8 rows fill the batch before the 2 s delay ends";
  const BatcherStatistics statistics = batcher.statistics();
  EXPECT_EQ(statistics.executions, 1);
  EXPECT_EQ(statistics.mean_batch_rows, 8.0);
  EXPECT_LT(statistics.queue_delay.max_us, 1e6);
}

// Per-call inputs (a scalar, a table whose first dimension the signature fixes) are not rows:
// requests whose per-call inputs are equal share a run, which feeds them once; others run apart.
TEST(DynamicBatcher, RequestsShareARunOnlyWithEqualPerCallInputs) {
  auto backend = std::make_shared<test::RowModel>();
  DynamicBatcher batcher(backend, {.max_batch_rows = 64, .max_delay = 200ms});
  constexpr int kThreads = 8;
  std::barrier start(kThreads);
  std::atomic<int> wrong{0};
  std::vector<std::thread> requesters;
  for (int t = 0; t < kThreads; ++t) {
    requesters.emplace_back([&, t] {
      // Two rows each, as many as the bias has: a batcher taking it for rows would concatenate it.
      const std::vector<NamedTensor> inputs{
          {"x", request_rows(2, t, 0)},
          {"scale", Tensor::from_values<float>(Shape({}), {t % 2 == 0 ? 1.0f : 3.0f})},
          {"bias", Tensor::from_values<float>(Shape({2}), {0.5f, 0.25f})}};
      start.arrive_and_wait();
      const auto outputs = batcher.run(inputs, {});
      const auto expected = test::RowModel().run(inputs, {});
      if (!same_values(outputs[0], expected[0]) || !same_values(outputs[1], expected[1])) ++wrong;
    });
  }
  for (auto& requester : requesters) requester.join();
  EXPECT_EQ(wrong.load(), 0);
  const BatcherStatistics statistics = batcher.statistics();
  EXPECT_EQ(statistics.requests, kThreads);
  EXPECT_GE(statistics.executions, 2) << "two scales cannot share a run";
  EXPECT_LT(statistics.executions, kThreads) << "equal scales and biases share one";
}

TEST(DynamicBatcher, ABadRequestFailsAloneAndTheOthersSucceed) {
  auto backend = std::make_shared<test::RowModel>();
  DynamicBatcher batcher(backend, {.max_batch_rows = 64, .max_delay = 20ms});
  auto good = batcher.submit({{"x", request_rows(2, 0, 0)}}, {});
  auto bad = batcher.submit({{"x", Tensor(DType::kInt32, Shape({2, 3}))}}, {});
  auto also_good = batcher.submit({{"x", request_rows(3, 0, 1)}}, {});
  EXPECT_EQ(good.get()[0].rows(), 2);
  EXPECT_EQ(also_good.get()[0].rows(), 3);
  EXPECT_THROW(bad.get(), DTypeMismatchError);
  EXPECT_EQ(batcher.statistics().failed_requests, 1);
}

TEST(DynamicBatcher, DestructionCompletesPendingRequests) {
  auto backend = std::make_shared<test::RowModel>();
  std::atomic<int> completed{0};
  const auto start = std::chrono::steady_clock::now();
  {
    DynamicBatcher batcher(backend, {.max_batch_rows = 1000, .max_delay = 10s});
    for (int i = 0; i < 20; ++i) {
      batcher.submit({{"x", request_rows(1, 0, i)}}, {}, [&](BatchResult result) {
        if (!result.error && result.outputs[0].rows() == 1) ++completed;
      });
    }
  }
  EXPECT_EQ(completed.load(), 20);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "shutdown does not wait out the delay";
}

TEST(DynamicBatcher, CallbacksMayNotWaitForTheirOwnBatcher) {
  auto backend = std::make_shared<test::RowModel>();
  DynamicBatcher batcher(backend, {.max_batch_rows = 4, .max_delay = 0us});
  std::promise<std::string> message;
  batcher.submit({{"x", request_rows(1, 0, 0)}}, {}, [&](BatchResult) {
    message.set_value(test::error_message_of<FailedPreconditionError>(
        [&] { batcher.run({{"x", request_rows(1, 0, 1)}}, {}); }));
  });
  EXPECT_THAT(message.get_future().get(), HasSubstr("may not wait"));
}

// Holds each run for a while and records how many runs were inside it at once.
class SlowRowModel final : public Model {
 public:
  explicit SlowRowModel(std::chrono::milliseconds hold) : hold_(hold) {}
  const ModelInfo& info() const override { return rows_.info(); }
  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options = {}) const override {
    const int now = inside_.fetch_add(1) + 1;
    int seen = most_inside.load();
    while (now > seen && !most_inside.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(hold_);
    inside_.fetch_sub(1);
    return rows_.run(inputs, output_names, options);
  }
  mutable std::atomic<int> most_inside{0};

 private:
  test::RowModel rows_;
  std::chrono::milliseconds hold_;
  mutable std::atomic<int> inside_{0};
};

TEST(DynamicBatcher, RunsOneBatchAtATimeByDefault) {
  auto backend = std::make_shared<SlowRowModel>(20ms);
  {
    DynamicBatcher batcher(backend, {.max_batch_rows = 1, .max_delay = 0us});
    std::vector<std::future<std::vector<Tensor>>> pending;
    for (int i = 0; i < 4; ++i) pending.push_back(batcher.submit({{"x", request_rows(1, 0, i)}}, {}));
    for (auto& result : pending) EXPECT_EQ(result.get()[0].rows(), 1);
  }
  EXPECT_EQ(backend->most_inside.load(), 1);
}

TEST(DynamicBatcher, OverlapsUpToBatchesInFlightRunsAndAnswersEveryRequestOnce) {
  auto backend = std::make_shared<SlowRowModel>(20ms);
  constexpr int kRequests = 12;
  std::atomic<int> answered{0}, wrong{0};
  {
    DynamicBatcher batcher(backend, {.max_batch_rows = 1, .max_delay = 0us, .batches_in_flight = 3});
    for (int i = 0; i < kRequests; ++i) {
      const Tensor x = request_rows(1, 7, i);
      batcher.submit({{"x", x}}, {}, [&, x](BatchResult result) {
        if (result.error || !same_values(result.outputs[1], test::RowModel().run({{"x", x}}, {})[1])) ++wrong;
        ++answered;
      });
    }
  }  // destruction completes the pending requests
  EXPECT_EQ(answered.load(), kRequests);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(backend->most_inside.load(), 3) << "three dispatchers, never more runs at once";
}

TEST(DynamicBatcher, SeveralBatchesInFlightStillCoalesceAndRouteRows) {
  auto backend = std::make_shared<test::RowModel>();
  DynamicBatcher batcher(backend, {.max_batch_rows = 16, .max_delay = 200us, .batches_in_flight = 4});
  constexpr int kThreads = 32, kRequests = 40;
  std::atomic<int> wrong{0};
  std::vector<std::thread> requesters;
  for (int t = 0; t < kThreads; ++t) {
    requesters.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        const Tensor x = request_rows(1 + (t + i) % 5, t, i);
        const auto outputs = batcher.run({{"x", x}}, {});
        if (!same_values(outputs[1], test::RowModel().run({{"x", x}}, {})[1])) ++wrong;
      }
    });
  }
  for (auto& requester : requesters) requester.join();
  EXPECT_EQ(wrong.load(), 0);
  const BatcherStatistics statistics = batcher.statistics();
  EXPECT_EQ(statistics.requests, kThreads * kRequests);
  EXPECT_LT(statistics.executions, statistics.requests) << "requests were coalesced";
}

TEST(DynamicBatcher, CallbacksOnAnyDispatcherMayNotWaitForTheirOwnBatcher) {
  auto backend = std::make_shared<test::RowModel>();
  DynamicBatcher batcher(backend, {.max_batch_rows = 1, .max_delay = 0us, .batches_in_flight = 2});
  std::vector<std::future<std::string>> messages;
  std::vector<std::promise<std::string>> promises(4);
  for (int i = 0; i < 4; ++i) {
    messages.push_back(promises[i].get_future());
    batcher.submit({{"x", request_rows(1, 0, i)}}, {}, [&, i](BatchResult) {
      promises[i].set_value(test::error_message_of<FailedPreconditionError>(
          [&] { batcher.run({{"x", request_rows(1, 0, 9)}}, {}); }));
    });
  }
  for (auto& message : messages) EXPECT_THAT(message.get(), HasSubstr("may not wait"));
}

TEST(DynamicBatcher, OptionsAreChecked) {
  auto backend = std::make_shared<test::RowModel>();
  EXPECT_THROW(DynamicBatcher(backend, {.max_batch_rows = 0}), InvalidArgumentError);
  EXPECT_THROW(DynamicBatcher(backend, {.max_delay = -1us}), InvalidArgumentError);
  EXPECT_THROW(DynamicBatcher(backend, {.batches_in_flight = 0}), InvalidArgumentError);
}

}  // namespace
}  // namespace hepinfer::batching
