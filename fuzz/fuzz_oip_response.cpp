// libFuzzer target: the Open Inference Protocol reply readers (an infer reply in JSON or with the
// binary extension, and model metadata). Replies come from the network: reading must give tensors
// or throw a hepinfer::Error, never crash, and never allocate more than the reply could describe.
// The first byte chooses the reader; for binary replies the next two give the JSON header's length.
#include <cstdint>
#include <string_view>

#include "hepinfer/core/error.h"
#include "oip_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 3, size - 3);
  try {
    switch (data[0] % 3) {
      case 0:
        hepinfer::remote::detail::decode_infer_response(body, std::nullopt);
        break;
      case 1:
        hepinfer::remote::detail::decode_infer_response(body, static_cast<std::size_t>(data[1]) << 8 | data[2]);
        break;
      default:
        hepinfer::remote::detail::decode_model_metadata(body);
        break;
    }
  } catch (const hepinfer::Error&) {
  }
  return 0;
}
