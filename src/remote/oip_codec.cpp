#include "oip_codec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "hepinfer/core/error.h"
#include "infer_reply_reader.h"

namespace hepinfer::remote::detail {
namespace {

using nlohmann::json;

// Deeper JSON than any reply needs (a rank-8 nested data array is depth 12) is refused while
// parsing, before it costs memory.
constexpr std::size_t kMaxJsonDepth = 32;
constexpr std::size_t kMaxRank = 16;

[[noreturn]] void malformed(const std::string& what) { throw BackendError("malformed reply: " + what); }

json parse_bounded(std::string_view text, const char* what) {
  bool too_deep = false;
  json::parser_callback_t limit_depth = [&too_deep](int depth, json::parse_event_t, json&) {
    if (static_cast<std::size_t>(depth) > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  json parsed = json::parse(text.begin(), text.end(), limit_depth, /*allow_exceptions=*/false);
  if (too_deep) malformed(std::string(what) + " is nested deeper than " + std::to_string(kMaxJsonDepth));
  if (parsed.is_discarded()) malformed(std::string(what) + " is not valid JSON");
  return parsed;
}

const json& member(const json& object, const char* key, const std::string& context) {
  auto found = object.find(key);
  if (found == object.end()) malformed(context + " has no \"" + key + "\"");
  return *found;
}

std::string string_member(const json& object, const char* key, const std::string& context) {
  const json& value = member(object, key, context);
  if (!value.is_string()) malformed(context + ": \"" + key + "\" is not a string");
  return value.get<std::string>();
}

Shape shape_member(const json& object, const std::string& context, bool allow_unknown) {
  const json& dims = member(object, "shape", context);
  if (!dims.is_array()) malformed(context + ": \"shape\" is not an array");
  if (dims.size() > kMaxRank) malformed(context + ": rank " + std::to_string(dims.size()) + " is above " + std::to_string(kMaxRank));
  std::vector<std::int64_t> values;
  for (const json& dim : dims) {
    if (!dim.is_number_integer()) malformed(context + ": shape " + dims.dump() + " holds a non-integer");
    const std::int64_t value = dim.get<std::int64_t>();
    if (value < (allow_unknown ? -1 : 0)) malformed(context + ": shape " + dims.dump() + " has a negative dimension");
    values.push_back(value);
  }
  return Shape(std::move(values));
}

// Elements of a concrete shape, refusing products that overflow or that no body of
// `available_bytes` could hold (so nothing is allocated for them).
std::int64_t checked_elements(const Shape& shape, std::size_t element_bytes, std::size_t available_bytes,
                              const std::string& context) {
  std::int64_t elements = 1;
  const std::int64_t limit = static_cast<std::int64_t>(available_bytes / element_bytes);
  for (std::int64_t dim : shape.dims()) {
    if (dim == 0) return 0;
    if (elements > limit / dim) {
      malformed(context + ": shape " + shape.to_string() + " needs more bytes than the reply's " +
                std::to_string(available_bytes));
    }
    elements *= dim;
  }
  return elements;
}

// A leaf of "data" as a message shows it.
std::string describe(const JsonLeaf& leaf) {
  switch (leaf.kind) {
    case JsonLeaf::Kind::kBool: return leaf.boolean ? "true" : "false";
    case JsonLeaf::Kind::kSigned: return std::to_string(leaf.signed_value);
    case JsonLeaf::Kind::kUnsigned: return std::to_string(leaf.unsigned_value);
    case JsonLeaf::Kind::kFloat: {
      char text[32];
      const auto end = std::to_chars(text, text + sizeof text, leaf.floating).ptr;
      return std::string(text, end);
    }
    case JsonLeaf::Kind::kNull: return "null";
    case JsonLeaf::Kind::kString: return "a string";
    case JsonLeaf::Kind::kObject: return "an object";
  }
  return "?";
}

template <class T>
void store_leaves(const std::vector<JsonLeaf>& leaves, Tensor& tensor, const std::string& context) {
  using Kind = JsonLeaf::Kind;
  auto refuse = [&context](const JsonLeaf& leaf, const char* expected) {
    malformed(context + ": a value of \"data\" is " + describe(leaf) + ", not " + expected);
  };
  auto out = tensor.values<T>();
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    const JsonLeaf& leaf = leaves[i];
    if constexpr (std::is_same_v<T, bool>) {
      const bool zero_or_one = (leaf.kind == Kind::kUnsigned && leaf.unsigned_value <= 1) ||
                               (leaf.kind == Kind::kSigned && leaf.signed_value == 0);
      if (leaf.kind == Kind::kBool) {
        out[i] = leaf.boolean;
      } else if (zero_or_one) {
        out[i] = leaf.kind == Kind::kUnsigned && leaf.unsigned_value == 1;
      } else {
        refuse(leaf, "a BOOL");
      }
    } else if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, Float16>) {
      double value = 0;
      switch (leaf.kind) {
        case Kind::kFloat: value = leaf.floating; break;
        case Kind::kSigned: value = static_cast<double>(leaf.signed_value); break;
        case Kind::kUnsigned: value = static_cast<double>(leaf.unsigned_value); break;
        default: refuse(leaf, "a number");
      }
      if constexpr (std::is_same_v<T, Float16>) {
        out[i] = Float16::from_float(static_cast<float>(value));
      } else {
        out[i] = static_cast<T>(value);
      }
    } else {
      if (leaf.kind == Kind::kUnsigned) {
        if (leaf.unsigned_value > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) refuse(leaf, "in range");
        out[i] = static_cast<T>(leaf.unsigned_value);
      } else if (leaf.kind == Kind::kSigned) {
        if (leaf.signed_value < std::numeric_limits<T>::min()) refuse(leaf, "in range");
        out[i] = static_cast<T>(leaf.signed_value);
      } else {
        refuse(leaf, "an integer");
      }
    }
  }
}

Tensor tensor_from_json(const RawOutput& output, DType dtype, const Shape& shape, std::size_t body_bytes,
                        const std::string& context) {
  // A JSON number takes at least two bytes ("0,"), which bounds what a body can describe.
  const std::int64_t elements = checked_elements(shape, 2, body_bytes + 2, context);
  const std::size_t rank = shape.rank();
  if (output.deepest_array > rank) malformed(context + ": \"data\" is nested deeper than the shape's rank");
  for (std::size_t depth = 0; depth < 64; ++depth) {
    if ((output.leaf_depths >> depth & 1) != 0 && depth != rank && depth != 1) {
      malformed(context + ": \"data\" nests differently from the shape");
    }
  }
  if (static_cast<std::int64_t>(output.leaves.size()) != elements) {
    malformed(context + ": \"data\" holds " + std::to_string(output.leaves.size()) + " values, shape " +
              shape.to_string() + " needs " + std::to_string(elements));
  }
  Tensor tensor(dtype, shape);
  visit_dtype(dtype, [&]<class T>() { store_leaves<T>(output.leaves, tensor, context); });
  return tensor;
}

// A member the reader found as a string, or why not.
const std::string& text_member(Member member, const std::string& text, const char* key, const std::string& context) {
  if (member == Member::kAbsent) malformed(context + " has no \"" + key + "\"");
  if (member == Member::kWrongType) malformed(context + ": \"" + key + "\" is not a string");
  return text;
}

Shape output_shape(const RawOutput& output, const std::string& context) {
  if (output.shape == Member::kAbsent) malformed(context + " has no \"shape\"");
  if (output.shape == Member::kWrongType) malformed(context + ": \"shape\" is not an array");
  if (output.rank > kMaxRank) malformed(context + ": rank " + std::to_string(output.rank) + " is above " + std::to_string(kMaxRank));
  if (output.shape_has_non_integer) malformed(context + ": \"shape\" holds a non-integer");
  if (output.shape_has_negative) malformed(context + ": \"shape\" has a negative dimension");
  return Shape(output.dims);
}

// JSON text written straight into the request body: the request's few members need no document
// tree, and its numbers no value object each.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

template <class T>
void append_number(std::string& out, T value) {
  char text[40];
  char* end = std::to_chars(text, text + sizeof text - 2, value).ptr;
  if constexpr (std::is_floating_point_v<T>) {
    // Always a JSON float ("1.0", not "1"), as servers that type-check a value expect for FP32.
    if (std::find_if(text, end, [](char c) { return c == '.' || c == 'e'; }) == end) {
      *end++ = '.';
      *end++ = '0';
    }
  }
  out.append(text, end);
}

void append_json_data(std::string& out, const Tensor& tensor) {
  out += '[';
  visit_dtype(tensor.dtype(), [&]<class T>() {
    const auto values = tensor.values<T>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i != 0) out += ',';
      if constexpr (std::is_same_v<T, bool>) {
        out += values[i] ? "true" : "false";
      } else if constexpr (std::is_same_v<T, Float16>) {
        append_number(out, static_cast<double>(values[i].to_float()));
      } else if constexpr (std::is_same_v<T, float>) {
        // A float is written as the double it converts to: the shortest digits that read back exactly.
        append_number(out, static_cast<double>(values[i]));
      } else if constexpr (std::is_floating_point_v<T>) {
        append_number(out, values[i]);
      } else {
        append_number(out, static_cast<std::int64_t>(values[i]));  // int8 is a number, not a character
      }
    }
  });
  out += ']';
}

void check_json_encodable(const Tensor& tensor, const std::string& name) {
  // The protocol gives FP16 no JSON form (KServe answers 400): its values go in binary only.
  if (tensor.dtype() == DType::kFloat16) {
    throw UnsupportedError("input '" + name + "' is float16, which the protocol's JSON encoding does not carry; use "
                           "the binary encoding");
  }
  // JSON has no NaN or infinity; sending them would make the server misread the request.
  auto refuse = [&name]() {
    throw UnsupportedError("input '" + name + "' holds NaN or infinity, which JSON cannot carry; use the binary encoding");
  };
  if (tensor.dtype() == DType::kFloat32) {
    for (float value : tensor.values<float>()) if (!std::isfinite(value)) refuse();
  } else if (tensor.dtype() == DType::kFloat64) {
    for (double value : tensor.values<double>()) if (!std::isfinite(value)) refuse();
  }
}

}  // namespace

std::string model_path(const ServedModel& model) {
  std::string path = "/v2/models/" + model.name;
  if (!model.version.empty()) path += "/versions/" + model.version;
  return path;
}

std::string_view protocol_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "FP32";
    case DType::kFloat64: return "FP64";
    case DType::kInt32: return "INT32";
    case DType::kInt64: return "INT64";
    case DType::kBool: return "BOOL";
    case DType::kFloat16: return "FP16";
    case DType::kInt8: return "INT8";
    case DType::kInt16: return "INT16";
    case DType::kUInt8: return "UINT8";
    case DType::kUInt16: return "UINT16";
  }
  return "?";
}

std::optional<DType> parse_protocol_dtype(std::string_view name) {
  for (DType dtype : kAllDTypes) {
    if (protocol_dtype_name(dtype) == name) return dtype;
  }
  return std::nullopt;
}

EncodedRequest encode_infer_request(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& outputs,
                                    bool binary, std::string_view request_id) {
  std::size_t tensor_bytes = 0;
  for (const NamedTensor& input : inputs) tensor_bytes += input.tensor.byte_size();
  EncodedRequest request;
  std::string& out = request.body;
  // Binary: the tensors follow the header as they are. JSON: a float takes about 12 characters.
  out.reserve(128 + 96 * (inputs.size() + outputs.size()) + (binary ? tensor_bytes : 3 * tensor_bytes));
  out += "{\"id\":";
  append_json_string(out, request_id);
  out += ",\"inputs\":[";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const NamedTensor& input = inputs[i];
    out += i == 0 ? "{\"name\":" : ",{\"name\":";
    append_json_string(out, input.name);
    out += ",\"shape\":[";
    const std::vector<std::int64_t>& dims = input.tensor.shape().dims();
    for (std::size_t d = 0; d < dims.size(); ++d) {
      if (d != 0) out += ',';
      append_number(out, dims[d]);
    }
    out += "],\"datatype\":\"";
    out += protocol_dtype_name(input.tensor.dtype());
    if (binary) {
      out += "\",\"parameters\":{\"binary_data_size\":";
      append_number(out, input.tensor.byte_size());
      out += "}}";
    } else {
      check_json_encodable(input.tensor, input.name);
      out += "\",\"data\":";
      append_json_data(out, input.tensor);
      out += '}';
    }
  }
  out += "],\"outputs\":[";
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    out += i == 0 ? "{\"name\":" : ",{\"name\":";
    append_json_string(out, outputs[i]);
    out += binary ? ",\"parameters\":{\"binary_data\":true}}" : "}";
  }
  out += "]}";
  if (binary) {
    request.header_length = out.size();
    for (const NamedTensor& input : inputs) {
      out.append(static_cast<const char*>(input.tensor.raw_data()), input.tensor.byte_size());
    }
  }
  return request;
}

std::vector<NamedTensor> decode_infer_response(std::string_view body, std::optional<std::size_t> header_length) {
  const std::size_t json_bytes = header_length.value_or(body.size());
  if (json_bytes > body.size()) {
    malformed("Inference-Header-Content-Length " + std::to_string(json_bytes) + " is beyond the body's " +
              std::to_string(body.size()) + " bytes");
  }
  const RawInferReply reply = read_infer_reply(body.substr(0, json_bytes), kMaxJsonDepth, kMaxRank);
  if (!reply.is_object) malformed("the reply is not a JSON object");
  if (reply.outputs == Member::kAbsent) malformed("the reply has no \"outputs\"");
  if (reply.outputs == Member::kWrongType) malformed("\"outputs\" is not an array");

  std::string_view binary = body.substr(json_bytes);
  std::vector<NamedTensor> outputs;
  outputs.reserve(reply.entries.size());
  for (const RawOutput& entry : reply.entries) {
    if (!entry.is_object) malformed("an entry of \"outputs\" is not an object");
    const std::string& name = text_member(entry.name, entry.name_text, "name", "an output");
    const std::string context = "output '" + name + "'";
    const std::string& type_name = text_member(entry.datatype, entry.datatype_text, "datatype", context);
    const std::optional<DType> dtype = parse_protocol_dtype(type_name);
    if (!dtype) throw UnsupportedError(context + " has datatype " + type_name + ", which hepinfer does not handle");
    const Shape shape = output_shape(entry, context);
    if (entry.binary_data_size == Member::kWrongType) {
      malformed(context + ": binary_data_size is not a non-negative integer");
    }
    if (entry.binary_data_size == Member::kPresent) {
      const std::uint64_t binary_size = entry.binary_data_size_value;
      if (binary_size > binary.size()) {
        malformed(context + " says " + std::to_string(binary_size) + " binary bytes, " + std::to_string(binary.size()) +
                  " are left in the reply");
      }
      const std::size_t element_bytes = dtype_size(*dtype);
      const std::int64_t elements = checked_elements(shape, element_bytes, binary.size(), context);
      if (static_cast<std::uint64_t>(elements) * element_bytes != binary_size) {
        malformed(context + ": shape " + shape.to_string() + " of " + type_name + " needs " +
                  std::to_string(static_cast<std::uint64_t>(elements) * element_bytes) + " bytes, binary_data_size is " +
                  std::to_string(binary_size));
      }
      Tensor tensor(*dtype, shape);
      if (binary_size != 0) std::memcpy(tensor.raw_data(), binary.data(), binary_size);
      if (*dtype == DType::kBool) {
        // Any byte other than 0 or 1 in a bool is undefined behaviour once read.
        auto* bytes = static_cast<unsigned char*>(tensor.raw_data());
        for (std::size_t i = 0; i < binary_size; ++i) {
          if (bytes[i] > 1) malformed(context + ": BOOL byte " + std::to_string(bytes[i]) + " is neither 0 nor 1");
        }
      }
      binary.remove_prefix(binary_size);
      outputs.push_back({name, std::move(tensor)});
    } else {
      if (entry.data == Member::kAbsent) malformed(context + " has no \"data\"");
      outputs.push_back({name, tensor_from_json(entry, *dtype, shape, body.size(), context)});
    }
  }
  if (!binary.empty()) malformed(std::to_string(binary.size()) + " binary bytes follow the last output");
  return outputs;
}

SignatureInfo decode_model_metadata(std::string_view body) {
  const json metadata = parse_bounded(body, "the model metadata");
  if (!metadata.is_object()) malformed("the model metadata is not a JSON object");
  SignatureInfo signature;
  signature.key = "serving_default";
  auto read = [&metadata](const char* key, std::vector<TensorInfo>& into) {
    const json& list = member(metadata, key, "the model metadata");
    if (!list.is_array()) malformed(std::string("the model metadata's \"") + key + "\" is not an array");
    for (const json& entry : list) {
      if (!entry.is_object()) malformed(std::string("an entry of \"") + key + "\" is not an object");
      TensorInfo info;
      info.key = string_member(entry, "name", std::string("an entry of \"") + key + "\"");
      info.tensor_name = info.key;
      const std::string context = std::string(key == std::string("inputs") ? "input" : "output") + " '" + info.key + "'";
      const std::string type_name = string_member(entry, "datatype", context);
      const std::optional<DType> dtype = parse_protocol_dtype(type_name);
      if (!dtype) throw UnsupportedError(context + " has datatype " + type_name + ", which hepinfer does not handle");
      info.dtype = *dtype;
      info.shape = shape_member(entry, context, /*allow_unknown=*/true);
      for (const TensorInfo& earlier : into) {
        if (earlier.key == info.key) malformed(context + " is listed twice");
      }
      into.push_back(std::move(info));
    }
  };
  read("inputs", signature.inputs);
  read("outputs", signature.outputs);
  if (signature.outputs.empty()) malformed("the model metadata lists no outputs");
  return signature;
}

std::string error_text(std::string_view body) {
  constexpr std::size_t kReadable = 300;
  const json reply = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (reply.is_object()) {
    for (const char* key : {"error", "detail"}) {
      if (auto found = reply.find(key); found != reply.end()) {
        std::string text = found->is_string() ? found->get<std::string>() : found->dump();
        return text.size() > kReadable ? text.substr(0, kReadable) + "..." : text;
      }
    }
  }
  std::string text(body.substr(0, kReadable));
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return body.size() > kReadable ? text + "..." : text;
}

}  // namespace hepinfer::remote::detail
