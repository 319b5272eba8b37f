// The float -> bfloat16 conversions XLA's compiled code calls where it does not convert inline
// (a scalar converted once and broadcast, e.g. a recurrent layer's zero state under Keras'
// mixed_bfloat16 policy). XLA's JIT defines them for its own programs
// (xla/backends/cpu/codegen/builtin_definition_generator.h); an AOT package must bring them, and
// libgcc has them only from GCC 13 on, so tools/aot_runtime.py compiles this file into the
// runtime's core. Where libgcc has them too, the package's link takes these first; both round to
// nearest even.
//
// x86-64 passes a bfloat16 in the low 16 bits of an SSE register, like a float: the result is
// returned as a float whose bit pattern holds the bfloat16 in its low half.
#include "bfloat16_truncation.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace {

constexpr std::uint32_t kFloatSignlessMask = 0x7fffffffu;
constexpr std::uint32_t kFloatInfinityBits = 0x7f800000u;
// A NaN keeps its sign and the top of its payload; the quiet bit makes sure the top is not empty.
constexpr std::uint16_t kBfloat16QuietBit = 0x0040u;

// The runtime is compiled as C++17: no std::bit_cast.
template <typename To, typename From>
To bits_as(From from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof(to));
  return to;
}

float as_register(std::uint16_t bfloat16_bits) { return bits_as<float>(std::uint32_t{bfloat16_bits}); }

}  // namespace

namespace hepinfer::aot_runtime {

std::uint16_t bfloat16_bits_nearest(float value) {
  const auto bits = bits_as<std::uint32_t>(value);
  if ((bits & kFloatSignlessMask) > kFloatInfinityBits) {
    return static_cast<std::uint16_t>((bits >> 16) | kBfloat16QuietBit);
  }
  // Adding just under half of the dropped part, plus the kept part's lowest bit, carries exactly
  // when the dropped part is over half, or half with an odd kept part (ties to even). A carry
  // out of the largest finite value's mantissa gives infinity, as rounding should.
  const std::uint32_t lowest_kept_bit = (bits >> 16) & 1u;
  return static_cast<std::uint16_t>((bits + 0x7fffu + lowest_kept_bit) >> 16);
}

std::uint16_t bfloat16_bits_nearest(double value) {
  if (std::isnan(value)) {
    return bfloat16_bits_nearest(static_cast<float>(value));
  }
  // Rounding to float first, then to bfloat16, can round twice in the same direction. Rounding to
  // float towards zero and marking any inexactness in its lowest bit ("round to odd") cannot:
  // float keeps 16 more bits than bfloat16, so the marked bit only ever breaks a false tie.
  float narrowed = static_cast<float>(value);
  if (std::fabs(static_cast<double>(narrowed)) > std::fabs(value)) {
    narrowed = std::nextafter(narrowed, 0.0f);
  }
  auto bits = bits_as<std::uint32_t>(narrowed);
  if (static_cast<double>(narrowed) != value) {
    bits |= 1u;
  }
  return bfloat16_bits_nearest(bits_as<float>(bits));
}

}  // namespace hepinfer::aot_runtime

extern "C" float __truncsfbf2(float value) {
  return as_register(hepinfer::aot_runtime::bfloat16_bits_nearest(value));
}

extern "C" float __truncdfbf2(double value) {
  return as_register(hepinfer::aot_runtime::bfloat16_bits_nearest(value));
}
