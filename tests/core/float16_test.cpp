#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "hepinfer/core/float16.h"

namespace hepinfer {
namespace {

float widened(std::uint16_t bits) { return Float16{bits}.to_float(); }
std::uint16_t narrowed(float value) { return Float16::from_float(value).bits; }

TEST(Float16, KnownValuesConvertBothWays) {
  struct Known {
    std::uint16_t bits;
    float value;
  };
  for (const Known& known : std::vector<Known>{{0x0000, 0.0f},
                                               {0x8000, -0.0f},
                                               {0x3c00, 1.0f},
                                               {0xc000, -2.0f},
                                               {0x3555, 0.333251953125f},
                                               {0x7bff, 65504.0f},                  // largest finite
                                               {0x0400, 6.103515625e-05f},          // smallest normal
                                               {0x0001, 5.9604644775390625e-08f},  // smallest subnormal
                                               {0x03ff, 6.097555160522461e-05f},  // largest subnormal
                                               {0x7c00, std::numeric_limits<float>::infinity()},
                                               {0xfc00, -std::numeric_limits<float>::infinity()}}) {
    EXPECT_EQ(widened(known.bits), known.value) << std::hex << known.bits;
    EXPECT_EQ(narrowed(known.value), known.bits) << known.value;
  }
  EXPECT_TRUE(std::signbit(widened(0x8000)));
}

TEST(Float16, EveryHalfSurvivesARoundTripThroughFloat) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float value = widened(static_cast<std::uint16_t>(bits));
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(widened(narrowed(value)))) << std::hex << bits;
    } else {
      ASSERT_EQ(narrowed(value), bits) << std::hex << bits;
    }
  }
}

TEST(Float16, RoundsToNearestAndTiesToEven) {
  EXPECT_EQ(narrowed(1.0f + 0x1p-11f), 0x3c00);        // halfway above 1.0 (even): stays
  EXPECT_EQ(narrowed(1.0f + 3 * 0x1p-11f), 0x3c02);    // halfway above 0x3c01 (odd): up
  EXPECT_EQ(narrowed(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);  // just above halfway: up
  EXPECT_EQ(narrowed(65519.0f), 0x7bff);               // below halfway to 65536: the largest finite
  EXPECT_EQ(narrowed(65520.0f), 0x7c00);               // halfway to 65536 (odd mantissa): infinity
  EXPECT_EQ(narrowed(1e10f), 0x7c00);
  EXPECT_EQ(narrowed(0x1p-25f), 0x0000);               // half the smallest subnormal: to even, zero
  EXPECT_EQ(narrowed(0x1p-25f + 0x1p-40f), 0x0001);
  EXPECT_EQ(narrowed(3 * 0x1p-25f), 0x0002);           // 1.5 subnormal steps: to even, two
  EXPECT_EQ(narrowed(0x1p-30f), 0x0000);
  EXPECT_EQ(narrowed(-0x1p-30f), 0x8000);
  EXPECT_EQ(narrowed(6.1e-05f), 0x03ff);               // rounds into the subnormals' top
}

TEST(Float16, NaNStaysNaN) {
  EXPECT_TRUE(std::isnan(widened(narrowed(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(widened(narrowed(-std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload lies only in the bits half precision drops must not become infinity.
  EXPECT_TRUE(std::isnan(widened(narrowed(std::bit_cast<float>(0x7f800001u)))));
}

// Any float narrows to the nearer of the two halves around it, the even one on a tie: checked
// against the halves themselves (sorted by value, as positive halves are by their bits).
TEST(Float16, RandomFloatsNarrowToTheNearestHalf) {
  std::vector<float> halves;
  for (std::uint16_t bits = 0; bits <= 0x7bff; ++bits) halves.push_back(widened(bits));
  std::mt19937 random(7);
  std::uniform_int_distribution<std::uint32_t> exponent(100, 143), mantissa(0, (1u << 23) - 1);
  for (int i = 0; i < 200000; ++i) {
    const float value = std::bit_cast<float>(exponent(random) << 23 | mantissa(random));
    std::uint16_t expected;
    if (value >= 65520.0f) {
      expected = 0x7c00;
    } else if (value >= 65504.0f) {
      expected = 0x7bff;
    } else {
      const auto above = std::lower_bound(halves.begin(), halves.end(), value);
      const auto upper = static_cast<std::uint16_t>(above - halves.begin());
      if (*above == value || upper == 0) {
        expected = upper;
      } else {
        const double to_upper = static_cast<double>(*above) - value, to_lower = value - static_cast<double>(*(above - 1));
        expected = to_upper < to_lower ? upper : to_lower < to_upper ? static_cast<std::uint16_t>(upper - 1)
                                                                      : static_cast<std::uint16_t>(upper & ~1u);
      }
    }
    ASSERT_EQ(narrowed(value), expected) << value;
    ASSERT_EQ(narrowed(-value), expected | 0x8000) << -value;
  }
}

}  // namespace
}  // namespace hepinfer
