#include "hepinfer/core/float16.h"

#include <bit>

namespace hepinfer {
namespace {

constexpr std::uint32_t kFloatSign = 0x80000000u;
constexpr int kExponentBias = 127 - 15;  // float's bias minus half's

}  // namespace

Float16 Float16::from_float(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((bits & kFloatSign) >> 16);
  const std::uint32_t magnitude = bits & ~kFloatSign;
  if (magnitude >= 0x7f800000u) {
    // Infinity stays infinity; a NaN stays a (quiet) NaN, keeping what of its payload fits.
    const bool nan = magnitude > 0x7f800000u;
    return {static_cast<std::uint16_t>(sign | 0x7c00u | (nan ? 0x0200u | ((magnitude >> 13) & 0x3ffu) : 0u))};
  }
  const int exponent = static_cast<int>(magnitude >> 23) - kExponentBias;
  if (exponent >= 0x1f) return {static_cast<std::uint16_t>(sign | 0x7c00u)};  // overflows to infinity
  std::uint32_t mantissa;
  int shift;
  if (exponent <= 0) {
    // A half subnormal (or zero): the implicit leading bit joins the mantissa, shifted further.
    if (exponent < -10) return {sign};
    mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    shift = 14 - exponent;
  } else {
    mantissa = magnitude;
    shift = 13;
  }
  // Round to nearest, ties to even, on the bits that fall off. A carry out of the mantissa moves
  // into the exponent, which is the right result (up to infinity).
  const std::uint32_t half_bit = 1u << (shift - 1);
  const std::uint32_t rest = mantissa & ((1u << shift) - 1);
  std::uint32_t result = exponent <= 0 ? mantissa >> shift
                                       : (static_cast<std::uint32_t>(exponent) << 10) | ((mantissa >> shift) & 0x3ffu);
  if (rest > half_bit || (rest == half_bit && (result & 1u) != 0)) ++result;
  return {static_cast<std::uint16_t>(sign | result)};
}

float Float16::to_float() const {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + kExponentBias) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);
  // A subnormal: normalise it, since every half subnormal is a normal float.
  int normalised = kExponentBias + 1;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --normalised;
  }
  return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(normalised) << 23) | ((mantissa & 0x3ffu) << 13));
}

}  // namespace hepinfer
