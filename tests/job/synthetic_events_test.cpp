// The demo job's events: deterministic, within their documented ranges, distinct per event.

#include <gtest/gtest.h>

#include "error_message.h"
#include "hepinfer/core/error.h"
#include "job/synthetic_events.h"

namespace hepinfer::framework {
namespace {

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::equal(a.values<float>().begin(), a.values<float>().end(), b.values<float>().begin());
}

TEST(SyntheticEvents, AreAPureFunctionOfSeedAndNumber) {
  const SyntheticEvent first = make_synthetic_event(7, 42), again = make_synthetic_event(7, 42);
  EXPECT_TRUE(same_values(first.jets, again.jets));
  EXPECT_TRUE(same_values(first.constituents, again.constituents));
  EXPECT_TRUE(same_values(first.event, again.event));
  EXPECT_TRUE(same_values(first.particles, again.particles));
  EXPECT_FALSE(same_values(first.event, make_synthetic_event(8, 42).event));
  EXPECT_FALSE(same_values(first.event, make_synthetic_event(7, 43).event));
}

TEST(SyntheticEvents, HaveTheDocumentedShapesAndRanges) {
  std::int64_t fewest_particles = 1 << 30, most_particles = 0, fewest_jets = 100, most_jets = 0;
  for (std::int64_t number = 0; number < 2000; ++number) {
    const SyntheticEvent event = make_synthetic_event(12345, number);
    const std::int64_t jets = event.jets.rows(), particles = event.particles.rows();
    ASSERT_EQ(event.jets.shape(), Shape({jets, 8}));
    ASSERT_EQ(event.constituents.shape(), Shape({jets, 16, 4}));
    ASSERT_EQ(event.event.shape(), Shape({1, 16}));
    ASSERT_EQ(event.particles.shape(), Shape({particles, 8}));
    fewest_jets = std::min(fewest_jets, jets);
    most_jets = std::max(most_jets, jets);
    fewest_particles = std::min(fewest_particles, particles);
    most_particles = std::max(most_particles, particles);
    for (const float value : event.particles.values<float>()) ASSERT_TRUE(value >= -1.0f && value < 1.0f) << value;
  }
  EXPECT_EQ(fewest_jets, 1);
  EXPECT_EQ(most_jets, 12);
  EXPECT_GE(fewest_particles, 200);
  EXPECT_LE(most_particles, 3000);
  EXPECT_GT(most_particles - fewest_particles, 2000);  // spread over the range, not stuck
}

TEST(SyntheticEvents, RefuseNegativeNumbers) {
  EXPECT_NE(test::error_message_of<InvalidArgumentError>([] { make_synthetic_event(1, -3); }).find("-3"),
            std::string::npos);
}

}  // namespace
}  // namespace hepinfer::framework
