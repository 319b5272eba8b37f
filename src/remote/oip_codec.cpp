#include "oip_codec.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "hepinfer/core/error.h"

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

// The data of a JSON tensor, flattened row-major; nested arrays must be as deep as the rank.
void flatten(const json& data, std::size_t depth, std::size_t rank, std::vector<const json*>& values,
             std::size_t limit, const std::string& context) {
  if (!data.is_array()) {
    if (depth != rank && depth != 1) malformed(context + ": \"data\" nests differently from the shape");
    if (values.size() >= limit) malformed(context + ": \"data\" holds more values than the shape");
    values.push_back(&data);
    return;
  }
  if (depth > rank) malformed(context + ": \"data\" is nested deeper than the shape's rank");
  for (const json& element : data) flatten(element, depth + 1, rank, values, limit, context);
}

template <class T>
void store_numbers(const std::vector<const json*>& values, Tensor& tensor, const std::string& context) {
  auto out = tensor.values<T>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const json& value = *values[i];
    if constexpr (std::is_same_v<T, bool>) {
      if (value.is_boolean()) {
        out[i] = value.get<bool>();
      } else if (value.is_number_integer() && (value.get<std::int64_t>() == 0 || value.get<std::int64_t>() == 1)) {
        out[i] = value.get<std::int64_t>() == 1;
      } else {
        malformed(context + ": value " + value.dump() + " is not a BOOL");
      }
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!value.is_number()) malformed(context + ": value " + value.dump() + " is not a number");
      out[i] = static_cast<T>(value.get<double>());
    } else {
      if (!value.is_number_integer()) malformed(context + ": value " + value.dump() + " is not an integer");
      if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
        malformed(context + ": value " + value.dump() + " is out of range");
      }
      const std::int64_t number = value.get<std::int64_t>();
      if (number < std::numeric_limits<T>::min() || number > std::numeric_limits<T>::max()) {
        malformed(context + ": value " + value.dump() + " is out of range");
      }
      out[i] = static_cast<T>(number);
    }
  }
}

Tensor tensor_from_json(const json& data, DType dtype, const Shape& shape, std::size_t body_bytes,
                        const std::string& context) {
  // A JSON number takes at least two bytes ("0,"), which bounds what a body can describe.
  const std::int64_t elements = checked_elements(shape, 2, body_bytes + 2, context);
  std::vector<const json*> values;
  values.reserve(static_cast<std::size_t>(elements));
  flatten(data, 0, shape.rank(), values, static_cast<std::size_t>(elements), context);
  if (static_cast<std::int64_t>(values.size()) != elements) {
    malformed(context + ": \"data\" holds " + std::to_string(values.size()) + " values, shape " + shape.to_string() +
              " needs " + std::to_string(elements));
  }
  Tensor tensor(dtype, shape);
  switch (dtype) {
    case DType::kFloat32: store_numbers<float>(values, tensor, context); break;
    case DType::kFloat64: store_numbers<double>(values, tensor, context); break;
    case DType::kInt32: store_numbers<std::int32_t>(values, tensor, context); break;
    case DType::kInt64: store_numbers<std::int64_t>(values, tensor, context); break;
    case DType::kBool: store_numbers<bool>(values, tensor, context); break;
  }
  return tensor;
}

json json_data(const Tensor& tensor) {
  switch (tensor.dtype()) {
    case DType::kFloat32: {
      auto values = tensor.values<float>();
      return json(std::vector<float>(values.begin(), values.end()));
    }
    case DType::kFloat64: {
      auto values = tensor.values<double>();
      return json(std::vector<double>(values.begin(), values.end()));
    }
    case DType::kInt32: {
      auto values = tensor.values<std::int32_t>();
      return json(std::vector<std::int32_t>(values.begin(), values.end()));
    }
    case DType::kInt64: {
      auto values = tensor.values<std::int64_t>();
      return json(std::vector<std::int64_t>(values.begin(), values.end()));
    }
    case DType::kBool: {
      auto values = tensor.values<bool>();
      return json(std::vector<bool>(values.begin(), values.end()));
    }
  }
  return json::array();
}

void check_finite_json(const Tensor& tensor, const std::string& name) {
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

std::string_view protocol_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "FP32";
    case DType::kFloat64: return "FP64";
    case DType::kInt32: return "INT32";
    case DType::kInt64: return "INT64";
    case DType::kBool: return "BOOL";
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
  json header = {{"id", request_id}};
  json& input_list = header["inputs"] = json::array();
  std::size_t binary_bytes = 0;
  for (const NamedTensor& input : inputs) {
    json entry = {{"name", input.name},
                  {"shape", input.tensor.shape().dims()},
                  {"datatype", protocol_dtype_name(input.tensor.dtype())}};
    if (binary) {
      entry["parameters"] = {{"binary_data_size", input.tensor.byte_size()}};
      binary_bytes += input.tensor.byte_size();
    } else {
      check_finite_json(input.tensor, input.name);
      entry["data"] = json_data(input.tensor);
    }
    input_list.push_back(std::move(entry));
  }
  json& output_list = header["outputs"] = json::array();
  for (const std::string& name : outputs) {
    json entry = {{"name", name}};
    if (binary) entry["parameters"] = {{"binary_data", true}};
    output_list.push_back(std::move(entry));
  }
  EncodedRequest request;
  request.body = header.dump();
  if (binary) {
    request.header_length = request.body.size();
    request.body.reserve(request.body.size() + binary_bytes);
    for (const NamedTensor& input : inputs) {
      request.body.append(static_cast<const char*>(input.tensor.raw_data()), input.tensor.byte_size());
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
  const json reply = parse_bounded(body.substr(0, json_bytes), "the reply header");
  if (!reply.is_object()) malformed("the reply is not a JSON object");
  const json& output_list = member(reply, "outputs", "the reply");
  if (!output_list.is_array()) malformed("\"outputs\" is not an array");

  std::string_view binary = body.substr(json_bytes);
  std::vector<NamedTensor> outputs;
  for (const json& entry : output_list) {
    if (!entry.is_object()) malformed("an entry of \"outputs\" is not an object");
    const std::string name = string_member(entry, "name", "an output");
    const std::string context = "output '" + name + "'";
    const std::string type_name = string_member(entry, "datatype", context);
    const std::optional<DType> dtype = parse_protocol_dtype(type_name);
    if (!dtype) throw UnsupportedError(context + " has datatype " + type_name + ", which hepinfer does not handle");
    const Shape shape = shape_member(entry, context, /*allow_unknown=*/false);

    std::optional<std::uint64_t> binary_size;
    if (auto parameters = entry.find("parameters"); parameters != entry.end() && parameters->is_object()) {
      if (auto size = parameters->find("binary_data_size"); size != parameters->end()) {
        if (!size->is_number_unsigned()) malformed(context + ": binary_data_size is not a non-negative integer");
        binary_size = size->get<std::uint64_t>();
      }
    }
    if (binary_size) {
      if (*binary_size > binary.size()) {
        malformed(context + " says " + std::to_string(*binary_size) + " binary bytes, " + std::to_string(binary.size()) +
                  " are left in the reply");
      }
      const std::size_t element_bytes = dtype_size(*dtype);
      const std::int64_t elements = checked_elements(shape, element_bytes, binary.size(), context);
      if (static_cast<std::uint64_t>(elements) * element_bytes != *binary_size) {
        malformed(context + ": shape " + shape.to_string() + " of " + type_name + " needs " +
                  std::to_string(static_cast<std::uint64_t>(elements) * element_bytes) + " bytes, binary_data_size is " +
                  std::to_string(*binary_size));
      }
      Tensor tensor(*dtype, shape);
      if (*binary_size != 0) std::memcpy(tensor.raw_data(), binary.data(), *binary_size);
      if (*dtype == DType::kBool) {
        // Any byte other than 0 or 1 in a bool is undefined behaviour once read.
        auto* bytes = static_cast<unsigned char*>(tensor.raw_data());
        for (std::size_t i = 0; i < *binary_size; ++i) {
          if (bytes[i] > 1) malformed(context + ": BOOL byte " + std::to_string(bytes[i]) + " is neither 0 nor 1");
        }
      }
      binary.remove_prefix(*binary_size);
      outputs.push_back({name, std::move(tensor)});
    } else {
      outputs.push_back({name, tensor_from_json(member(entry, "data", context), *dtype, shape, body.size(), context)});
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
