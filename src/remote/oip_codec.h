#pragma once
// The Open Inference Protocol's (KServe v2) message bodies, as pure functions: what a client
// sends to POST /v2/models/NAME/infer and how it reads the reply, in JSON or with the binary
// tensor extension (a JSON header of `Inference-Header-Content-Length` bytes followed by the raw
// tensors). Replies are untrusted input: every size is checked against the body before it is
// used, nesting is bounded, and failures are BackendError with what was wrong (the caller adds
// the server and the model).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"
#include "hepinfer/core/tensor.h"

namespace hepinfer::remote::detail {

// The model's resource: "/v2/models/NAME", or "/v2/models/NAME/versions/VERSION" for a pinned
// version (metadata; "/ready", "/infer" and "/stats" are appended to it).
std::string model_path(const ServedModel& model);

// "FP32", "FP64", "INT32", "INT64", "BOOL" and back; nullopt for the protocol's other types.
std::string_view protocol_dtype_name(DType dtype);
std::optional<DType> parse_protocol_dtype(std::string_view name);

struct EncodedRequest {
  std::string body;
  // The JSON header's length for the binary extension; nullopt: the body is JSON only.
  std::optional<std::size_t> header_length;
};

// `outputs` are the output names asked for (all of them, in order).
EncodedRequest encode_infer_request(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& outputs,
                                    bool binary, std::string_view request_id);

// Reads an infer reply. `header_length` is the Inference-Header-Content-Length header (nullopt:
// the body is JSON only). Returns the outputs in the reply's order.
std::vector<NamedTensor> decode_infer_response(std::string_view body, std::optional<std::size_t> header_length);

// GET /v2/models/NAME: the model's inputs and outputs as one signature ("serving_default").
SignatureInfo decode_model_metadata(std::string_view body);

// The "error" of a protocol error reply, or the body itself cut to a readable length.
std::string error_text(std::string_view body);

}  // namespace hepinfer::remote::detail
