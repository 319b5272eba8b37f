#include "hepinfer/core/latency.h"

#include <gtest/gtest.h>

#include <numeric>

namespace hepinfer {
namespace {

TEST(Latency, NearestRankPercentilesOfOneToAHundred) {
  std::vector<double> samples(100);
  std::iota(samples.rbegin(), samples.rend(), 1.0);  // 100 .. 1, unsorted on purpose
  const LatencySummary summary = summarise_latencies(samples);
  EXPECT_EQ(summary.count, 100u);
  EXPECT_DOUBLE_EQ(summary.p50_us, 50);
  EXPECT_DOUBLE_EQ(summary.p90_us, 90);
  EXPECT_DOUBLE_EQ(summary.p99_us, 99);
  EXPECT_DOUBLE_EQ(summary.max_us, 100);
  EXPECT_DOUBLE_EQ(summary.mean_us, 50.5);
  EXPECT_DOUBLE_EQ(percentile(samples, 0.25), 25);
}

TEST(Latency, SmallAndEmptySampleSets) {
  EXPECT_DOUBLE_EQ(summarise_latencies({}).p99_us, 0);
  EXPECT_DOUBLE_EQ(percentile({}, 0.5), 0);
  EXPECT_DOUBLE_EQ(percentile({7}, 0.01), 7);
  EXPECT_DOUBLE_EQ(percentile({1, 2}, 0.5), 1);
  EXPECT_DOUBLE_EQ(percentile({1, 2}, 0.51), 2);
}

}  // namespace
}  // namespace hepinfer
