// The float -> bfloat16 conversions compiled into every AOT package's runtime
// (src/aot/runtime/bfloat16_truncation.cc), linked here on their own. Checked against a rounding
// written from the definition (the two neighbouring bfloat16 values, the nearer one, ties to
// even) over every bfloat16 neighbourhood for floats and over random and crafted doubles, and
// through the symbols XLA's compiled code calls.
#include "aot/runtime/bfloat16_truncation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace {

using hepinfer::aot_runtime::bfloat16_bits_nearest;

constexpr std::uint16_t kInfinity = 0x7f80;
constexpr std::uint16_t kSign = 0x8000;

double bfloat16_value(std::uint16_t bits) { return std::bit_cast<float>(std::uint32_t{bits} << 16); }

// The nearest bfloat16 by definition: bfloat16 keeps 8 significant bits, so at |x|'s binade its
// spacing is 2^(exponent - 7), and never below the smallest subnormal's, 2^-133. Every step here
// is exact in double.
std::uint16_t nearest_by_definition(double x) {
  const std::uint16_t sign = std::signbit(x) ? kSign : 0;
  const double magnitude = std::fabs(x);
  if (magnitude == 0) return sign;
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude in [2^(exponent-1), 2^exponent)
  const double spacing = std::ldexp(1.0, std::max(exponent - 1 - 7, -133));
  const double below = std::floor(magnitude / spacing) * spacing;
  const double above = below + spacing;
  const double chosen = (magnitude - below < above - magnitude) ? below
                        : (magnitude - below > above - magnitude)
                            ? above
                            : (std::fmod(below / spacing, 2.0) == 0 ? below : above);
  if (chosen >= std::ldexp(1.0, 128)) return sign | kInfinity;
  return sign | static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(static_cast<float>(chosen)) >> 16);
}

std::uint16_t register_bits(float returned) {
  return static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(returned) & 0xffffu);
}

TEST(Bfloat16Truncation, EveryFloatNeighbourhoodRoundsToTheNearestTiesToEven) {
  // Each high half is a bfloat16; the low halves are the cases rounding tells apart: exact,
  // just above, just below half, half (a tie), just over half, just under the next.
  std::mt19937 random(7);
  for (std::uint32_t high = 0; high <= 0xffff; ++high) {
    for (std::uint32_t low : {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, static_cast<std::uint32_t>(random() & 0xffffu)}) {
      const float value = std::bit_cast<float>(high << 16 | low);
      if (std::isnan(value)) continue;
      ASSERT_EQ(bfloat16_bits_nearest(value), nearest_by_definition(value)) << std::hexfloat << value;
    }
  }
}

TEST(Bfloat16Truncation, DoublesRoundOnceNotTwice) {
  // 1 + 2^-8 is halfway between bfloat16's 1 and 1 + 2^-7; a double just above it rounds up,
  // although rounding it to float first lands exactly on the tie, which goes to the even 1.
  EXPECT_EQ(bfloat16_bits_nearest(1.0 + 0x1p-8 + 0x1p-30), 0x3f81);
  EXPECT_EQ(bfloat16_bits_nearest(1.0 + 0x1p-8 - 0x1p-30), 0x3f80);
  EXPECT_EQ(bfloat16_bits_nearest(1.0 + 0x1p-8), 0x3f80);
  EXPECT_EQ(bfloat16_bits_nearest(-(1.0 + 0x1p-8 + 0x1p-30)), kSign | 0x3f81);
  // Beyond float's range, and below bfloat16's smallest subnormal.
  EXPECT_EQ(bfloat16_bits_nearest(1e300), kInfinity);
  EXPECT_EQ(bfloat16_bits_nearest(-1e39), kSign | kInfinity);
  EXPECT_EQ(bfloat16_bits_nearest(1e-300), 0);
  EXPECT_EQ(bfloat16_bits_nearest(-1e-300), kSign);
  EXPECT_EQ(bfloat16_bits_nearest(std::numeric_limits<double>::infinity()), kInfinity);

  std::mt19937_64 random(11);
  std::uniform_int_distribution<int> exponents(-140, 130);
  std::uniform_real_distribution<double> significands(1.0, 2.0);
  for (int i = 0; i < 1'000'000; ++i) {
    const double value = std::ldexp(significands(random), exponents(random)) * (i % 2 ? -1 : 1);
    ASSERT_EQ(bfloat16_bits_nearest(value), nearest_by_definition(value)) << std::hexfloat << value;
  }
}

TEST(Bfloat16Truncation, NotANumberStaysNotANumberWithItsSign) {
  for (const float nan : {std::numeric_limits<float>::quiet_NaN(), std::bit_cast<float>(0x7f800001u),
                          std::bit_cast<float>(0xff800001u), std::bit_cast<float>(0xffc12345u)}) {
    const std::uint16_t bits = bfloat16_bits_nearest(nan);
    EXPECT_TRUE(std::isnan(bfloat16_value(bits))) << std::hex << bits;
    EXPECT_EQ(bits & kSign, std::bit_cast<std::uint32_t>(nan) >> 16 & kSign);
    EXPECT_TRUE(std::isnan(bfloat16_value(bfloat16_bits_nearest(static_cast<double>(nan)))));
  }
}

TEST(Bfloat16Truncation, TheSymbolsXlaCallsReturnTheBitsInTheLowHalfOfTheRegister) {
  for (const double value : {0.0, -0.0, 1.0, -2.5, 3.14159265358979, 1e-40, 6.5e4, 3.4e38, -3.4e38}) {
    EXPECT_EQ(register_bits(__truncsfbf2(static_cast<float>(value))),
              bfloat16_bits_nearest(static_cast<float>(value)));
    EXPECT_EQ(register_bits(__truncdfbf2(value)), bfloat16_bits_nearest(value));
  }
  EXPECT_EQ(register_bits(__truncsfbf2(1.0f)), 0x3f80);
  EXPECT_EQ(register_bits(__truncdfbf2(-2.0)), 0xc000);
}

}  // namespace
