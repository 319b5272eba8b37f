#pragma once
// Element types hepinfer tensors can hold, with their sizes and names (numpy-style).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hepinfer {

enum class DType { kFloat32, kFloat64, kInt32, kInt64, kBool };

inline constexpr DType kAllDTypes[] = {DType::kFloat32, DType::kFloat64, DType::kInt32,
                                       DType::kInt64, DType::kBool};

constexpr std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBool: return 1;
  }
  return 0;
}

// "float32", "float64", "int32", "int64", "bool".
std::string_view dtype_name(DType dtype);
// Inverse of dtype_name; nullopt for anything else.
std::optional<DType> parse_dtype(std::string_view name);

// Maps a C++ element type to its DType: dtype_of<float> == DType::kFloat32.
template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };
template <> struct DTypeOf<std::int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<std::int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };
template <class T> inline constexpr DType dtype_of = DTypeOf<T>::value;

}  // namespace hepinfer
