#include "hepinfer/core/npy.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <vector>

#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"

namespace hepinfer {
namespace {

constexpr std::array<char, 6> kMagic = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

// NumPy's type string: byte order, kind, size ("<f4", "<i8"). Single bytes have no order, so
// numpy writes "|b1", "|i1", "|u1"; other writers put "<" there, which is read alike.
std::string descr_of(DType dtype) {
  if (dtype == DType::kBool) return "|b1";
  const std::string size = std::to_string(dtype_size(dtype));
  const char kind = is_floating(dtype) ? 'f' : (dtype == DType::kUInt8 || dtype == DType::kUInt16) ? 'u' : 'i';
  return std::string(dtype_size(dtype) == 1 ? "|" : "<") + kind + size;
}

struct StoredType {
  DType dtype;
  bool big_endian = false;  // '>f4': written on a big-endian machine, or asked for (np.dtype('>f4'))
};

// '<' and '=' (native: hepinfer runs on little-endian CPUs only) read as written; '>' is swapped.
std::optional<StoredType> dtype_of_descr(std::string_view descr) {
  if (descr.size() < 2) return std::nullopt;
  const char order = descr.front();
  const std::string_view kind_and_size = descr.substr(1);
  if (order != '<' && order != '=' && order != '>' && order != '|') return std::nullopt;
  for (DType dtype : kAllDTypes) {
    if (kind_and_size != std::string_view(descr_of(dtype)).substr(1)) continue;
    if (order == '|' && dtype_size(dtype) != 1) return std::nullopt;  // "|f4" is not a type string
    return StoredType{dtype, order == '>' && dtype_size(dtype) > 1};
  }
  return std::nullopt;
}

void swap_byte_order(std::byte* data, std::size_t bytes, std::size_t item) {
  for (std::size_t offset = 0; offset + item <= bytes; offset += item) std::reverse(data + offset, data + offset + item);
}

// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// This parser accepts exactly that grammar and nothing more.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  struct Header {
    std::string descr;
    bool fortran_order = false;
    std::vector<std::int64_t> shape;
  };

  Header parse() {
    Header header;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        header.descr = parse_string();
        have_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = parse_bool();
        have_order = true;
      } else if (key == "shape") {
        header.shape = parse_shape();
        have_shape = true;
      } else {
        fail("unexpected header key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') ++pos_;
    }
    expect('}');
    if (!have_descr || !have_order || !have_shape) fail("header lacks 'descr', 'fortran_order' or 'shape'");
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InvalidArgumentError("'" + std::string(source_) + "' is not a valid .npy file: " + what);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "' in header");
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string in header");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string in header");
    std::string value(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return value;
  }
  bool parse_bool() {
    skip_space();
    if (text_.substr(pos_, 4) == "True") { pos_ += 4; return true; }
    if (text_.substr(pos_, 5) == "False") { pos_ += 5; return false; }
    fail("expected True or False in header");
  }
  std::vector<std::int64_t> parse_shape() {
    std::vector<std::int64_t> dims;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (dims.size() >= 64) fail("shape has more than 64 dimensions");
      std::int64_t dim = 0;
      bool any_digit = false;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (dim > (std::numeric_limits<std::int64_t>::max() - digit) / 10) fail("dimension overflows int64");
        dim = dim * 10 + digit;
        any_digit = true;
        ++pos_;
      }
      if (!any_digit) fail("expected a non-negative integer dimension in 'shape'");
      while (peek() == 'L') ++pos_;  // Python 2 longs
      dims.push_back(dim);
      skip_space();
      if (peek() == ',') ++pos_;
      else if (peek() != ')') fail("expected ',' or ')' in 'shape'");
    }
    expect(')');
    return dims;
  }

  std::string_view text_;
  std::string_view source_;
  std::size_t pos_ = 0;
};

std::uint32_t read_le(std::span<const std::byte> bytes, std::size_t offset, std::size_t width) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    value |= static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(bytes[offset + i])) << (8 * i);
  }
  return value;
}

// Fortran order (what NumPy writes for a transposed or column-major array) keeps the first index
// fastest; tensors keep the last fastest. Walks `to` in its order and reads each element where
// Fortran order put it.
void copy_fortran_to_c_order(const std::byte* from, std::byte* to, const std::vector<std::int64_t>& dims,
                             std::size_t item) {
  const std::size_t rank = dims.size();
  std::vector<std::int64_t> fortran_strides(rank, 1);
  for (std::size_t k = 1; k < rank; ++k) fortran_strides[k] = fortran_strides[k - 1] * dims[k - 1];
  std::int64_t elements = 1;
  for (const std::int64_t dim : dims) elements *= dim;
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t offset = 0;  // of `index` in Fortran order
  for (std::int64_t i = 0; i < elements; ++i) {
    std::memcpy(to + static_cast<std::size_t>(i) * item, from + static_cast<std::size_t>(offset) * item, item);
    for (std::size_t k = rank; k-- > 0;) {  // the next index in C order
      if (++index[k] < dims[k]) {
        offset += fortran_strides[k];
        break;
      }
      offset -= (dims[k] - 1) * fortran_strides[k];
      index[k] = 0;
    }
  }
}

}  // namespace

Tensor parse_npy(std::span<const std::byte> bytes, std::string_view source) {
  auto fail = [&](const std::string& what) -> InvalidArgumentError {
    return InvalidArgumentError("'" + std::string(source) + "' is not a valid .npy file: " + what);
  };
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0) {
    throw fail("it is a zip archive (numpy's .npz holds several arrays so); give each array as its own .npy "
               "(in Python: for name, array in numpy.load(FILE).items(): numpy.save(name + '.npy', array))");
  }
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    throw fail("missing the \\x93NUMPY magic string");
  }
  const auto major = std::to_integer<std::uint8_t>(bytes[6]);
  std::size_t prefix = 0;
  std::size_t header_length = 0;
  if (major == 1) {
    prefix = 10;
    header_length = read_le(bytes, 8, 2);
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw fail("truncated header");
    prefix = 12;
    header_length = read_le(bytes, 8, 4);
  } else {
    throw fail("unsupported format version " + std::to_string(major));
  }
  if (header_length > bytes.size() - prefix) throw fail("truncated header");
  const std::string_view header_text(reinterpret_cast<const char*>(bytes.data()) + prefix, header_length);
  const auto header = HeaderParser(header_text, source).parse();

  const auto stored = dtype_of_descr(header.descr);
  if (!stored) {
    std::string known;
    for (DType each : kAllDTypes) known.append(" ").append(descr_of(each));
    // ml_dtypes' bfloat16 has no numpy type string of its own: np.save writes it as raw bytes.
    const std::string bfloat16_hint =
        header.descr.ends_with("V2") ? "; numpy writes bfloat16 arrays so: save them as float32" : "";
    throw fail("dtype '" + header.descr + "' is not supported (expected one of" + known + ", or '>' for big-endian" +
               bfloat16_hint + ")");
  }
  const std::optional<DType> dtype = stored->dtype;

  const Shape shape(header.shape);
  std::int64_t elements = 0;
  try {
    elements = shape.num_elements();
  } catch (const Error&) {
    throw fail("shape " + shape.to_string() + " is too large");
  }
  const std::size_t payload = bytes.size() - prefix - header_length;
  const auto item = dtype_size(*dtype);
  if (static_cast<std::uint64_t>(elements) > payload / item) {
    throw fail("truncated data: shape " + shape.to_string() + " needs " +
               std::to_string(static_cast<std::uint64_t>(elements) * item) + " bytes, file holds " +
               std::to_string(payload));
  }
  const std::size_t data_bytes = static_cast<std::size_t>(elements) * item;
  if (payload != data_bytes) {
    throw fail(std::to_string(payload - data_bytes) + " bytes of trailing data after the array");
  }
  const std::byte* data = bytes.data() + prefix + header_length;
  if (*dtype == DType::kBool) {
    for (std::size_t i = 0; i < data_bytes; ++i) {
      if (std::to_integer<std::uint8_t>(data[i]) > 1) throw fail("bool element is neither 0 nor 1");
    }
  }
  Tensor tensor(*dtype, shape);
  if (data_bytes == 0) return tensor;
  if (header.fortran_order) {
    copy_fortran_to_c_order(data, static_cast<std::byte*>(tensor.raw_data()), header.shape, item);
  } else {
    std::memcpy(tensor.raw_data(), data, data_bytes);
  }
  if (stored->big_endian) swap_byte_order(static_cast<std::byte*>(tensor.raw_data()), data_bytes, item);
  return tensor;
}

Tensor read_npy(const std::filesystem::path& path) {
  const std::string contents = read_regular_file(path, ".npy file");
  return parse_npy(std::as_bytes(std::span<const char>(contents)), path.string());
}

std::string encode_npy(const Tensor& tensor) {
  std::string dict = "{'descr': '" + std::string(descr_of(tensor.dtype())) + "', 'fortran_order': False, 'shape': (";
  for (std::int64_t dim : tensor.shape().dims()) dict += std::to_string(dim) + ", ";
  if (tensor.shape().rank() > 1) dict.resize(dict.size() - 2);
  if (tensor.shape().rank() == 1) dict.pop_back();  // "(3,)"
  dict += "), }";

  const bool version1 = dict.size() + 10 + 64 < 65535;
  const std::size_t prefix = version1 ? 10 : 12;
  // Pad with spaces so that the data starts on a 64-byte boundary; the header ends in '\n'.
  const std::size_t unpadded = prefix + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';

  std::string out(kMagic.begin(), kMagic.end());
  out += static_cast<char>(version1 ? 1 : 2);
  out += '\0';
  const std::size_t length = dict.size();
  for (std::size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((length >> (8 * i)) & 0xff);
  out += dict;
  out.append(static_cast<const char*>(tensor.raw_data()), tensor.byte_size());
  return out;
}

void write_npy(const std::filesystem::path& path, const Tensor& tensor) {
  const std::string bytes = encode_npy(tensor);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw FileNotFoundError("cannot open '" + path.string() + "' for writing");
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw FileNotFoundError("cannot write .npy file '" + path.string() + "'");
}

}  // namespace hepinfer
