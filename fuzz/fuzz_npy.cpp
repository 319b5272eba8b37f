// libFuzzer target: the .npy parser on arbitrary bytes. It must either return a tensor that
// encodes back to an equal tensor, or throw a hepinfer::Error; anything else is a finding.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const hepinfer::Tensor tensor = hepinfer::parse_npy({reinterpret_cast<const std::byte*>(data), size}, "fuzz input");
    const std::string encoded = hepinfer::encode_npy(tensor);
    const hepinfer::Tensor again =
        hepinfer::parse_npy({reinterpret_cast<const std::byte*>(encoded.data()), encoded.size()}, "re-encoded");
    if (again.dtype() != tensor.dtype() || !(again.shape() == tensor.shape()) ||
        std::memcmp(again.raw_data(), tensor.raw_data(), tensor.byte_size()) != 0) {
      std::abort();  // a round trip that changes the tensor
    }
  } catch (const hepinfer::Error&) {
  }
  return 0;
}
