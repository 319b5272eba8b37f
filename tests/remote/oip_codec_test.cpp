// The Open Inference Protocol's message bodies, without a server: requests carry exactly the
// tensors given (every dtype, the extreme floats, names that need escaping), and replies are read
// whatever the order of their members, with typed errors for anything malformed. The reply reader
// is also fuzzed (fuzz/fuzz_oip_response.cpp); the stub-server tests check the same errors end to
// end.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hepinfer/core/error.h"
#include "oip_codec.h"

namespace hepinfer::remote::detail {
namespace {

using nlohmann::json;

const NamedTensor& by_name(const std::vector<NamedTensor>& tensors, const std::string& name) {
  for (const NamedTensor& tensor : tensors) {
    if (tensor.name == name) return tensor;
  }
  throw std::runtime_error("no tensor " + name);
}

template <class T>
std::vector<T> values_of(const Tensor& tensor) {
  auto values = tensor.values<T>();
  return {values.begin(), values.end()};
}

std::vector<NamedTensor> every_dtype() {
  const float tiny = std::numeric_limits<float>::denorm_min();
  return {
      {"f32", Tensor::from_values<float>({2, 4}, {0.1f, 1.0f, -0.0f, tiny, std::numeric_limits<float>::max(),
                                                  std::numeric_limits<float>::lowest(), 1e-30f, 16777217.0f})},
      {"f64", Tensor::from_values<double>({3}, {0.1, std::numeric_limits<double>::denorm_min(), -1e300})},
      {"i32", Tensor::from_values<std::int32_t>({2}, {std::numeric_limits<std::int32_t>::min(),
                                                      std::numeric_limits<std::int32_t>::max()})},
      {"i64", Tensor::from_values<std::int64_t>({2, 1}, {std::numeric_limits<std::int64_t>::min(),
                                                         std::numeric_limits<std::int64_t>::max()})},
      {"flag", Tensor::from_values(Shape{3}, std::vector<bool>{true, false, true})},
      {"scalar", Tensor::from_values<float>(Shape{}, {2.5f})},
      {"empty", Tensor(DType::kFloat32, {0, 3})},
      {"i8", Tensor::from_values<std::int8_t>({3}, {-128, 0, 127})},
      {"i16", Tensor::from_values<std::int16_t>({2}, {-32768, 32767})},
      {"u8", Tensor::from_values<std::uint8_t>({3}, {0, 10, 255})},
      {"u16", Tensor::from_values<std::uint16_t>({2}, {0, 65535})},
  };
}

void expect_same_bytes(const Tensor& got, const Tensor& want, const std::string& name) {
  SCOPED_TRACE(name);
  ASSERT_EQ(got.dtype(), want.dtype());
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.byte_size(), want.byte_size());
  EXPECT_EQ(std::memcmp(got.raw_data(), want.raw_data(), got.byte_size()), 0);
}

// An infer request and an infer reply differ only in "inputs" against "outputs".
std::string as_reply(std::string request_json) {
  const std::string from = "\"inputs\":", to = "\"outputs\":";
  const std::size_t at = request_json.find(from);
  EXPECT_NE(at, std::string::npos);
  const std::size_t outputs_at = request_json.find(to);
  // Drop the requested outputs, then rename the inputs.
  request_json = request_json.substr(0, outputs_at - 1) + "}";
  return request_json.replace(at, from.size(), to);
}

TEST(OipCodec, JsonRequestsReadBackExactlyForEveryDType) {
  const std::vector<NamedTensor> tensors = every_dtype();
  const EncodedRequest request = encode_infer_request(tensors, {}, /*binary=*/false, "r1");
  EXPECT_FALSE(request.header_length.has_value());
  const std::vector<NamedTensor> back = decode_infer_response(as_reply(request.body), std::nullopt);
  ASSERT_EQ(back.size(), tensors.size());
  for (const NamedTensor& tensor : tensors) expect_same_bytes(by_name(back, tensor.name).tensor, tensor.tensor, tensor.name);
}

TEST(OipCodec, JsonRequestsWriteFloatsAsJsonFloatsAndEscapeNames) {
  const std::string awkward = "a\"b\\c\n\x01";
  const EncodedRequest request = encode_infer_request(
      {{awkward, Tensor::from_values<float>({3}, {1.0f, 0.1f, -2.0f})}}, {"out\"put"}, /*binary=*/false, "id\t1");
  const json parsed = json::parse(request.body);
  EXPECT_EQ(parsed["id"], "id\t1");
  const json& input = parsed["inputs"][0];
  EXPECT_EQ(input["name"], awkward);
  EXPECT_EQ(input["datatype"], "FP32");
  EXPECT_EQ(input["shape"], json::array({3}));
  for (const json& value : input["data"]) EXPECT_TRUE(value.is_number_float()) << value.dump();
  EXPECT_EQ(static_cast<float>(input["data"][1].get<double>()), 0.1f);
  EXPECT_EQ(parsed["outputs"][0]["name"], "out\"put");
  EXPECT_FALSE(parsed["outputs"][0].contains("parameters"));
}

TEST(OipCodec, JsonRequestsRefuseNaNAndInfinity) {
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    try {
      encode_infer_request({{"x", Tensor::from_values<float>({2}, {1.0f, bad})}}, {}, /*binary=*/false, "");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const UnsupportedError& error) {
      EXPECT_NE(std::string(error.what()).find("input 'x'"), std::string::npos) << error.what();
    }
  }
}

// The protocol defines no JSON form for FP16 (KServe answers 400): it goes in binary only.
TEST(OipCodec, JsonRequestsRefuseFloat16AndBinaryOnesCarryIt) {
  const Tensor half = Tensor::from_values<Float16>({2}, {Float16::from_float(1.5f), Float16::from_float(-2.0f)});
  try {
    encode_infer_request({{"h", half}}, {}, /*binary=*/false, "");
    ADD_FAILURE() << "accepted float16 in JSON";
  } catch (const UnsupportedError& error) {
    EXPECT_NE(std::string(error.what()).find("input 'h' is float16"), std::string::npos) << error.what();
  }
  const EncodedRequest request = encode_infer_request({{"h", half}}, {}, /*binary=*/true, "");
  const json header = json::parse(request.body.substr(0, *request.header_length));
  EXPECT_EQ(header["inputs"][0]["datatype"], "FP16");
  const std::string reply = R"({"outputs":[{"name":"h","datatype":"FP16","shape":[2],"parameters":{"binary_data_size":4}}]})";
  const std::vector<NamedTensor> back =
      decode_infer_response(reply + request.body.substr(*request.header_length), reply.size());
  expect_same_bytes(by_name(back, "h").tensor, half, "h");
}

TEST(OipCodec, BinaryRequestsPutTheTensorsAfterTheHeader) {
  const std::vector<NamedTensor> tensors = every_dtype();
  const EncodedRequest request = encode_infer_request(tensors, {"y", "z"}, /*binary=*/true, "");
  ASSERT_TRUE(request.header_length.has_value());
  const json header = json::parse(request.body.substr(0, *request.header_length));
  std::size_t offset = *request.header_length;
  ASSERT_EQ(header["inputs"].size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& tensor = tensors[i].tensor;
    EXPECT_EQ(header["inputs"][i]["name"], tensors[i].name);
    EXPECT_EQ(header["inputs"][i]["shape"], json(tensor.shape().dims()));
    EXPECT_EQ(header["inputs"][i]["parameters"]["binary_data_size"], tensor.byte_size());
    EXPECT_EQ(std::memcmp(request.body.data() + offset, tensor.raw_data(), tensor.byte_size()), 0) << tensors[i].name;
    offset += tensor.byte_size();
  }
  EXPECT_EQ(offset, request.body.size());
  EXPECT_EQ(header["outputs"], json::parse(R"([{"name":"y","parameters":{"binary_data":true}},
                                               {"name":"z","parameters":{"binary_data":true}}])"));
}

TEST(OipCodec, RepliesAreReadWhateverTheOrderOfTheirMembers) {
  // "data" before "datatype" and "shape", members nobody asked for (nested) everywhere.
  const std::string json_reply = R"({"model_name":"m","extra":{"a":[1,{"b":[[]]}]},"outputs":[
      {"data":[[1,2,3],[4,5,6]],"parameters":{"note":[1,2]},"shape":[2,3],"junk":null,"datatype":"INT64","name":"a"},
      {"name":"b","shape":[],"datatype":"BOOL","data":true},
      {"name":"c","datatype":"FP32","shape":[2,2],"data":[0,1.5,-2,1e-3]}],"id":"x"})";
  const std::vector<NamedTensor> outputs = decode_infer_response(json_reply, std::nullopt);
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[0].name, "a");
  EXPECT_EQ(outputs[0].tensor.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_of<std::int64_t>(outputs[0].tensor), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(outputs[1].tensor.shape(), Shape{});
  EXPECT_TRUE(outputs[1].tensor.values<bool>()[0]);
  EXPECT_EQ(values_of<float>(outputs[2].tensor), (std::vector<float>{0.0f, 1.5f, -2.0f, 1e-3f}));

  const std::string header = R"({"outputs":[{"parameters":{"binary_data_size":8},"shape":[2],"name":"p","datatype":"FP32"},)"
                             R"({"datatype":"INT32","name":"q","parameters":{"binary_data_size":4},"shape":[1,1]}]})";
  std::string body = header;
  const float floats[2] = {3.5f, -1.0f};
  const std::int32_t ints[1] = {-7};
  body.append(reinterpret_cast<const char*>(floats), sizeof floats);
  body.append(reinterpret_cast<const char*>(ints), sizeof ints);
  const std::vector<NamedTensor> binary = decode_infer_response(body, header.size());
  ASSERT_EQ(binary.size(), 2u);
  EXPECT_EQ(values_of<float>(binary[0].tensor), (std::vector<float>{3.5f, -1.0f}));
  EXPECT_EQ(values_of<std::int32_t>(binary[1].tensor), (std::vector<std::int32_t>{-7}));
}

TEST(OipCodec, RepliesReadNumbersAsCorrectlyRoundedDoubles) {
  // Decimal texts at or near the halfway points between doubles, the subnormal range and 2^53 + 1:
  // each must read as strtod reads it.
  const std::vector<std::string> texts = {"0.1", "1.00000000000000011102230246251565404236316680908203125",
                                          "2.2250738585072011e-308", "4.9e-324", "9007199254740993.0",
                                          "1.7976931348623157e308", "0.30000000000000004", "-123456.789e-10",
                                          "7.038531e-26", "1e-400"};
  std::string data;
  for (const std::string& text : texts) data += (data.empty() ? "" : ",") + text;
  const std::string reply = R"({"outputs":[{"name":"d","datatype":"FP64","shape":[)" + std::to_string(texts.size()) +
                            R"(],"data":[)" + data + "]}]}";
  const std::vector<double> got = values_of<double>(decode_infer_response(reply, std::nullopt).at(0).tensor);
  ASSERT_EQ(got.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const double want = std::strtod(texts[i].c_str(), nullptr);
    EXPECT_EQ(std::memcmp(&got[i], &want, sizeof want), 0) << texts[i] << ": " << got[i] << " against " << want;
  }
}

TEST(OipCodec, RepliesMayStartWithAByteOrderMarkAndCarryLongEscapedNames) {
  const std::string name = std::string(6000, 'x') + "\n\"" + std::string(6000, 'y');
  std::string escaped;
  for (const char c : name) escaped += c == '\n' ? std::string("\\n") : c == '"' ? std::string("\\\"") : std::string(1, c);
  const std::string reply =
      "\xEF\xBB\xBF" R"({"outputs":[{"name":")" + escaped + R"(","datatype":"INT32","shape":[1],"data":[7]}]})";
  const std::vector<NamedTensor> outputs = decode_infer_response(reply, std::nullopt);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].name, name);
  EXPECT_EQ(values_of<std::int32_t>(outputs[0].tensor), (std::vector<std::int32_t>{7}));
}

TEST(OipCodec, TheLastOccurrenceOfAMemberWinsAsInADocument) {
  const std::vector<NamedTensor> outputs = decode_infer_response(
      R"({"outputs":[],"outputs":[{"name":5,"name":"a","shape":[9],"shape":[2],"datatype":"FP32",)"
      R"("data":[7],"data":[1,2],"parameters":{"binary_data_size":8},"parameters":[]}]})",
      std::nullopt);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].name, "a");
  EXPECT_EQ(values_of<float>(outputs[0].tensor), (std::vector<float>{1.0f, 2.0f}));
}

TEST(OipCodec, MalformedRepliesAreTypedErrorsThatSayWhatIsWrong) {
  struct Case {
    std::string reply;
    ErrorCode code;
    std::string says;
  };
  auto output = [](const std::string& members) { return R"({"outputs":[{"name":"y",)" + members + "}]}"; };
  const std::vector<Case> cases = {
      {"", ErrorCode::kBackend, "not valid JSON"},
      {R"({"outputs":[]} trailing)", ErrorCode::kBackend, "not valid JSON"},
      {R"({"outputs":[]} /* a comment */)", ErrorCode::kBackend, "not valid JSON"},
      {R"({"outputs":[],})", ErrorCode::kBackend, "not valid JSON"},
      {output(R"("datatype":"FP64","shape":[1],"data":[1e999])"), ErrorCode::kBackend, "not valid JSON"},
      {std::string(40, '[') + std::string(40, ']'), ErrorCode::kBackend, "nested deeper than 32"},
      {"[1]", ErrorCode::kBackend, "not a JSON object"},
      {R"({"id":"x"})", ErrorCode::kBackend, "has no \"outputs\""},
      {R"({"outputs":{}})", ErrorCode::kBackend, "\"outputs\" is not an array"},
      {R"({"outputs":[3]})", ErrorCode::kBackend, "is not an object"},
      {R"({"outputs":[{"datatype":"FP32"}]})", ErrorCode::kBackend, "an output has no \"name\""},
      {R"({"outputs":[{"name":["y"]}]})", ErrorCode::kBackend, "\"name\" is not a string"},
      {output(R"("datatype":"BF16","shape":[1],"data":[1])"), ErrorCode::kUnsupported, "datatype BF16"},
      {output(R"("datatype":"FP32","data":[1])"), ErrorCode::kBackend, "output 'y' has no \"shape\""},
      {output(R"("datatype":"FP32","shape":[-1],"data":[1])"), ErrorCode::kBackend, "negative dimension"},
      {output(R"("datatype":"FP32","shape":[9223372036854775808],"data":[1])"), ErrorCode::kBackend, "negative dimension"},
      {output(R"("datatype":"FP32","shape":[1.5],"data":[1])"), ErrorCode::kBackend, "holds a non-integer"},
      {output(R"("datatype":"FP32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data":[1])"), ErrorCode::kBackend,
       "rank 17 is above 16"},
      {output(R"("datatype":"FP32","shape":[1000000000,1000000000],"data":[1])"), ErrorCode::kBackend, "needs more bytes"},
      {output(R"("datatype":"FP32","shape":[2])"), ErrorCode::kBackend, "has no \"data\""},
      {output(R"("datatype":"FP32","shape":[2],"data":[1,2,3])"), ErrorCode::kBackend, "holds 3 values"},
      {output(R"("datatype":"FP32","shape":[2],"data":[[[1]],[2]])"), ErrorCode::kBackend, "nested deeper than the shape"},
      {output(R"("datatype":"FP32","shape":[2],"data":[[1],[2]])"), ErrorCode::kBackend, "nests differently"},
      {output(R"("datatype":"FP32","shape":[1,1,2],"data":[[1,2]])"), ErrorCode::kBackend, "nests differently"},
      {output(R"("datatype":"FP32","shape":[2],"data":[1,"2"])"), ErrorCode::kBackend, "is a string, not a number"},
      {output(R"("datatype":"INT32","shape":[2],"data":[1,2147483648])"), ErrorCode::kBackend, "2147483648, not in range"},
      {output(R"("datatype":"INT64","shape":[2],"data":[1,2.5])"), ErrorCode::kBackend, "2.5, not an integer"},
      {output(R"("datatype":"BOOL","shape":[2],"data":[true,2])"), ErrorCode::kBackend, "2, not a BOOL"},
      {output(R"("datatype":"FP32","shape":[1],"parameters":{"binary_data_size":-4})"), ErrorCode::kBackend,
       "binary_data_size is not a non-negative integer"},
  };
  for (const Case& entry : cases) {
    SCOPED_TRACE(entry.reply.substr(0, 120));
    try {
      decode_infer_response(entry.reply, std::nullopt);
      ADD_FAILURE() << "no error";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), entry.code) << error.what();
      EXPECT_NE(std::string(error.what()).find(entry.says), std::string::npos) << error.what();
    }
  }
}

TEST(OipCodec, BinaryRepliesMustMatchTheirSizes) {
  const std::string header = R"({"outputs":[{"name":"y","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]})";
  const std::string eight(8, '\0');
  EXPECT_NO_THROW(decode_infer_response(header + eight, header.size()));
  EXPECT_THROW(decode_infer_response(header + eight.substr(0, 4), header.size()), BackendError);  // short
  EXPECT_THROW(decode_infer_response(header + eight + "!", header.size()), BackendError);          // left over
  EXPECT_THROW(decode_infer_response(header + eight, header.size() + 100), BackendError);         // beyond
}

}  // namespace
}  // namespace hepinfer::remote::detail
