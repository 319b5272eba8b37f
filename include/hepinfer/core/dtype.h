#pragma once
// Element types hepinfer tensors can hold, with their sizes and names (numpy-style).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "hepinfer/core/float16.h"

namespace hepinfer {

// The narrow types (float16 for Keras' mixed precision, small integers for raw detector counts
// and images) follow the original five, so that existing values keep their meaning.
enum class DType { kFloat32, kFloat64, kInt32, kInt64, kBool, kFloat16, kInt8, kInt16, kUInt8, kUInt16 };

inline constexpr DType kAllDTypes[] = {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64,
                                       DType::kBool,    DType::kFloat16, DType::kInt8,  DType::kInt16,
                                       DType::kUInt8,   DType::kUInt16};

constexpr std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBool: return 1;
    case DType::kFloat16: return 2;
    case DType::kInt8: return 1;
    case DType::kInt16: return 2;
    case DType::kUInt8: return 1;
    case DType::kUInt16: return 2;
  }
  return 0;
}

constexpr bool is_floating(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64 || dtype == DType::kFloat16;
}

// "float32", "float64", "int32", "int64", "bool", "float16", "int8", "int16", "uint8", "uint16".
std::string_view dtype_name(DType dtype);
// Inverse of dtype_name; nullopt for anything else.
std::optional<DType> parse_dtype(std::string_view name);
// "float32, float64, ..., uint16": what hepinfer takes, for error messages.
std::string_view supported_dtype_names();

// Maps a C++ element type to its DType: dtype_of<float> == DType::kFloat32.
template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };
template <> struct DTypeOf<std::int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<std::int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };
template <> struct DTypeOf<Float16> { static constexpr DType value = DType::kFloat16; };
template <> struct DTypeOf<std::int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct DTypeOf<std::int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct DTypeOf<std::uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct DTypeOf<std::uint16_t> { static constexpr DType value = DType::kUInt16; };
template <class T> inline constexpr DType dtype_of = DTypeOf<T>::value;

// Calls visitor.template operator()<T>() with the C++ element type of `dtype`, for code that does
// the same thing to every element type: visit_dtype(dtype, [&]<class T>() { ... }).
template <class Visitor>
decltype(auto) visit_dtype(DType dtype, Visitor&& visitor) {
  switch (dtype) {
    case DType::kFloat32: return visitor.template operator()<float>();
    case DType::kFloat64: return visitor.template operator()<double>();
    case DType::kInt32: return visitor.template operator()<std::int32_t>();
    case DType::kInt64: return visitor.template operator()<std::int64_t>();
    case DType::kBool: return visitor.template operator()<bool>();
    case DType::kFloat16: return visitor.template operator()<Float16>();
    case DType::kInt8: return visitor.template operator()<std::int8_t>();
    case DType::kInt16: return visitor.template operator()<std::int16_t>();
    case DType::kUInt8: return visitor.template operator()<std::uint8_t>();
    case DType::kUInt16: return visitor.template operator()<std::uint16_t>();
  }
  return visitor.template operator()<float>();  // unreachable for a valid DType
}

}  // namespace hepinfer
