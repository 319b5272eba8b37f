#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"

namespace hepinfer {
namespace {

Tensor parse(const std::string& bytes) { return parse_npy(std::as_bytes(std::span(bytes.data(), bytes.size())), "test.npy"); }

// A version-1 file with the given header dict and payload.
std::string npy_file(const std::string& dict, const std::string& payload) {
  std::string header = dict;
  header += std::string((64 - (10 + header.size() + 1) % 64) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}

template <class T>
void expect_round_trip(DType dtype, std::vector<T> values, Shape shape) {
  Tensor original(dtype, shape);
  std::copy(values.begin(), values.end(), original.values<T>().begin());
  const std::string bytes = encode_npy(original);
  EXPECT_EQ((bytes.size() - original.byte_size()) % 64, 0u) << "data must start 64-byte aligned";
  const Tensor decoded = parse(bytes);
  EXPECT_EQ(decoded.dtype(), dtype);
  EXPECT_EQ(decoded.shape(), shape);
  EXPECT_EQ(std::memcmp(decoded.raw_data(), original.raw_data(), original.byte_size()), 0);
}

TEST(Npy, RoundTripsEveryDType) {
  expect_round_trip<float>(DType::kFloat32, {1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f}, {2, 3});
  expect_round_trip<double>(DType::kFloat64, {1e300, -1e-300}, {2});
  expect_round_trip<std::int32_t>(DType::kInt32, {-7, 8, 9, 10}, {1, 2, 2});
  expect_round_trip<std::int64_t>(DType::kInt64, {1LL << 40}, {});
  expect_round_trip<bool>(DType::kBool, {true, false, true}, {3, 1});
  expect_round_trip<float>(DType::kFloat32, {}, {0, 7});
  expect_round_trip<Float16>(DType::kFloat16, {Float16{0x3c00}, Float16{0xfbff}, Float16{0x7e00}}, {3});
  expect_round_trip<std::int8_t>(DType::kInt8, {-128, 127}, {2, 1});
  expect_round_trip<std::int16_t>(DType::kInt16, {-32768, 32767, 5}, {3});
  expect_round_trip<std::uint8_t>(DType::kUInt8, {0, 255, 17, 3}, {2, 2});
  expect_round_trip<std::uint16_t>(DType::kUInt16, {65535}, {1});
}

// Type strings as numpy writes them ("|u1": one byte has no order) and as other writers do ("<u1").
TEST(Npy, ReadsTheNarrowTypesUnderEitherSpelling) {
  const std::string two_bytes("\x01\xff", 2);
  for (const auto& [descr, dtype] : std::vector<std::pair<std::string, DType>>{
           {"|u1", DType::kUInt8}, {"<u1", DType::kUInt8}, {"|i1", DType::kInt8}, {"<i1", DType::kInt8}}) {
    const Tensor tensor = parse(npy_file("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }", two_bytes));
    EXPECT_EQ(tensor.dtype(), dtype) << descr;
  }
  const Tensor half = parse(npy_file("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", std::string("\x00\x3c", 2)));
  EXPECT_EQ(half.values<Float16>()[0].to_float(), 1.0f);
}

// ml_dtypes' bfloat16 (TensorFlow's) has no numpy type string: np.save writes it as raw bytes.
TEST(Npy, RawTwoByteRecordsAreRefusedNamingBfloat16) {
  try {
    parse(npy_file("{'descr': '<V2', 'fortran_order': False, 'shape': (2,), }", std::string(4, '\0')));
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("numpy writes bfloat16 arrays so: save them as float32"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("<f2"), std::string::npos) << error.what();
  }
}

TEST(Npy, ReadsWhatNumpyWrites) {
  // np.save of np.array([[1, 2], [3, 4]], dtype='<i8'), header as numpy formats it.
  std::string payload(32, '\0');
  const std::int64_t values[] = {1, 2, 3, 4};
  std::memcpy(payload.data(), values, 32);
  const Tensor tensor = parse(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", payload));
  EXPECT_EQ(tensor.shape(), Shape({2, 2}));
  EXPECT_EQ(tensor.values<std::int64_t>()[3], 4);
}

// np.save of a transposed or column-major array writes Fortran order, the first index fastest.
TEST(Npy, ReadsFortranOrderIntoCOrder) {
  // np.asfortranarray(np.arange(24, dtype='<i4').reshape(2, 3, 4)): element (i, j, k) is 12i + 4j + k,
  // stored at i + 2j + 6k.
  std::string payload(24 * 4, '\0');
  for (std::int32_t i = 0; i < 2; ++i) {
    for (std::int32_t j = 0; j < 3; ++j) {
      for (std::int32_t k = 0; k < 4; ++k) {
        const std::int32_t value = 12 * i + 4 * j + k;
        std::memcpy(payload.data() + 4 * (i + 2 * j + 6 * k), &value, 4);
      }
    }
  }
  const Tensor tensor = parse(npy_file("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 4), }", payload));
  ASSERT_EQ(tensor.shape(), Shape({2, 3, 4}));
  for (std::int32_t n = 0; n < 24; ++n) EXPECT_EQ(tensor.values<std::int32_t>()[n], n) << "element " << n;
  const Tensor empty = parse(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (0, 3), }", ""));
  EXPECT_EQ(empty.shape(), Shape({0, 3}));
  const Tensor vector = parse(npy_file("{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }", std::string(16, '\0')));
  EXPECT_EQ(vector.shape(), Shape({2}));
}

// numpy writes '>' type strings for arrays in big-endian byte order (np.save of a '>f4' array, files
// from big-endian machines): read into this CPU's order.
TEST(Npy, BigEndianArraysAreReadInThisMachinesByteOrder) {
  const std::string floats("\x3f\x80\x00\x00\xc0\x00\x00\x00", 8);  // 1.0f, -2.0f
  const Tensor f32 = parse(npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", floats));
  EXPECT_EQ(f32.values<float>()[0], 1.0f);
  EXPECT_EQ(f32.values<float>()[1], -2.0f);
  // int16 [2, 2] in Fortran order: 1, 3 / 2, 4 in C order.
  const std::string shorts("\x00\x01\x00\x02\x00\x03\x00\x04", 8);
  const Tensor i16 = parse(npy_file("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 2), }", shorts));
  EXPECT_EQ(std::vector<std::int16_t>(i16.values<std::int16_t>().begin(), i16.values<std::int16_t>().end()),
            (std::vector<std::int16_t>{1, 3, 2, 4}));
  const Tensor u8 = parse(npy_file("{'descr': '>u1', 'fortran_order': False, 'shape': (2,), }", "\x07\x09"));
  EXPECT_EQ(u8.values<std::uint8_t>()[1], 9);
  const Tensor native = parse(npy_file("{'descr': '=i8', 'fortran_order': False, 'shape': (1,), }",
                                       std::string("\x05\0\0\0\0\0\0\0", 8)));
  EXPECT_EQ(native.values<std::int64_t>()[0], 5);
}

TEST(Npy, FilesRoundTripOnDisk) {
  const auto path = std::filesystem::temp_directory_path() / "hepinfer_npy_test.npy";
  const Tensor original = Tensor::from_values<double>({3}, std::vector<double>{1, 2, 3});
  write_npy(path, original);
  EXPECT_EQ(read_npy(path).values<double>()[2], 3.0);
  std::filesystem::remove(path);
}

TEST(Npy, MissingFileIsFileNotFound) {
  try {
    read_npy("/nonexistent/input.npy");
    FAIL();
  } catch (const FileNotFoundError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/input.npy"), std::string::npos);
  }
}

struct MalformedCase {
  const char* label;
  std::string bytes;
  const char* message_part;
  friend void PrintTo(const MalformedCase& param, std::ostream* out) { *out << param.label; }
};

class MalformedNpy : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedNpy, IsRejectedWithAReason) {
  try {
    parse(GetParam().bytes);
    FAIL() << "accepted " << GetParam().label;
  } catch (const InvalidArgumentError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("test.npy"), std::string::npos) << message;
    EXPECT_NE(message.find(GetParam().message_part), std::string::npos) << message;
  }
}

const std::string kFourFloats(16, '\0');

INSTANTIATE_TEST_SUITE_P(
    Npy, MalformedNpy,
    ::testing::Values(
        MalformedCase{"empty", "", "magic"},
        MalformedCase{"not npy", "hello world, this is text", "magic"},
        MalformedCase{"bad version", std::string("\x93NUMPY\x07\x00\x00\x00", 10), "version"},
        MalformedCase{"header longer than file", std::string("\x93NUMPY\x01\x00\xff\x7f{", 11), "truncated header"},
        MalformedCase{"truncated data",
                      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", std::string(8, '\0')),
                      "truncated data"},
        MalformedCase{"trailing data",
                      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", kFourFloats),
                      "trailing"},
        MalformedCase{"npz archive", std::string("PK\x03\x04\x14\x00\x00\x00\x00\x00x.npy", 15), "zip archive"},
        MalformedCase{"multi-byte type without byte order",
                      npy_file("{'descr': '|f4', 'fortran_order': False, 'shape': (4,), }", kFourFloats),
                      "not supported"},
        MalformedCase{"unsupported dtype",
                      npy_file("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", kFourFloats),
                      "not supported"},
        MalformedCase{"huge shape",
                      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", ""),
                      "too large"},
        MalformedCase{"overflowing dimension",
                      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", ""),
                      "overflows"},
        MalformedCase{"negative dimension",
                      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", kFourFloats),
                      "non-negative"},
        MalformedCase{"missing key", npy_file("{'descr': '<f4', 'shape': (4,), }", kFourFloats), "lacks"},
        MalformedCase{"unknown key",
                      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", kFourFloats),
                      "unexpected header key"},
        MalformedCase{"unterminated string", npy_file("{'descr", ""), "unterminated"},
        MalformedCase{"bool not 0 or 1",
                      npy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", std::string("\x01\x05", 2)),
                      "neither 0 nor 1"}),
    [](const auto& test_info) {
      std::string name = test_info.param.label;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace hepinfer
