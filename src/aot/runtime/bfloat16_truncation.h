// The float -> bfloat16 conversions compiled into every AOT package's runtime
// (bfloat16_truncation.cc): what they compute, for the tests, and the symbols XLA's code calls.
#pragma once

#include <cstdint>

namespace hepinfer::aot_runtime {

// The bfloat16 nearest to `value` (ties to even; NaN stays NaN, quiet), as its bits.
std::uint16_t bfloat16_bits_nearest(float value);
std::uint16_t bfloat16_bits_nearest(double value);

}  // namespace hepinfer::aot_runtime

// What XLA's compiled code calls: the bfloat16 in the low 16 bits of the returned register.
extern "C" float __truncsfbf2(float value);
extern "C" float __truncdfbf2(double value);
