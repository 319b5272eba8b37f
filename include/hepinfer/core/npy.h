#pragma once
// NumPy .npy files (format versions 1-3) for the dtypes hepinfer knows. Arrays in Fortran order
// (NumPy writes transposed arrays so) are read into C order, big-endian ones ('>f4') into this
// CPU's little-endian order; writes are C order, little-endian.
// The parser treats its input as untrusted: every size is checked before it is used.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "hepinfer/core/tensor.h"

namespace hepinfer {

// Throws FileNotFoundError if unreadable, InvalidArgumentError naming the file if malformed.
Tensor read_npy(const std::filesystem::path& path);
// `source` names the bytes' origin in error messages.
Tensor parse_npy(std::span<const std::byte> bytes, std::string_view source);

void write_npy(const std::filesystem::path& path, const Tensor& tensor);
std::string encode_npy(const Tensor& tensor);

}  // namespace hepinfer
