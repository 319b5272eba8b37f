#pragma once
// IEEE 754 half precision (binary16), the element type of float16 tensors.
//
// A storage type, not an arithmetic one: models trained with Keras' mixed precision return
// float16, and C++ before C++23 has no such type (g++ 12 lacks std::float16_t). Convert to float
// to compute; the conversions are exact one way and round to nearest even the other, as numpy's.

#include <cstdint>

namespace hepinfer {

struct Float16 {
  std::uint16_t bits = 0;

  static Float16 from_float(float value);
  float to_float() const;
};

}  // namespace hepinfer
