#pragma once
// Reads the JSON of an infer reply in one pass, event by event (nlohmann's SAX interface), keeping
// only what decode_infer_response needs: per output its name, datatype, shape, binary size and
// flattened data. No document tree is built, so a binary reply's header costs a handful of
// allocations instead of one per key and string, and a JSON reply's data goes straight into one
// flat array. The reply is untrusted: what is wrong with a field is recorded here (the last
// occurrence of a key wins, as in a document) and judged by the caller, which knows the message
// to give; only invalid JSON and nesting beyond the limit stop the reading.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hepinfer::remote::detail {

// How a member was found: missing, of the wrong JSON type, or usable.
enum class Member : std::uint8_t { kAbsent, kWrongType, kPresent };

// One leaf of an output's "data", as the JSON wrote it; what it means depends on the datatype,
// which may come after the data in the reply.
struct JsonLeaf {
  enum class Kind : std::uint8_t { kBool, kSigned, kUnsigned, kFloat, kNull, kString, kObject };
  Kind kind = Kind::kNull;
  union {
    double floating = 0;
    bool boolean;
    std::int64_t signed_value;  // what JSON writes with a minus sign
    std::uint64_t unsigned_value;
  };
};

struct RawOutput {
  bool is_object = true;
  Member name = Member::kAbsent;
  std::string name_text;
  Member datatype = Member::kAbsent;
  std::string datatype_text;
  Member shape = Member::kAbsent;
  std::vector<std::int64_t> dims;  // at most max_rank + 1 kept; `rank` counts them all
  std::size_t rank = 0;
  bool shape_has_non_integer = false;
  bool shape_has_negative = false;  // below zero, or above what int64 holds
  Member binary_data_size = Member::kAbsent;
  std::uint64_t binary_data_size_value = 0;
  Member data = Member::kAbsent;
  std::vector<JsonLeaf> leaves;        // row-major
  std::uint64_t leaf_depths = 0;  // bit d: a leaf sits inside d arrays ("data" itself counted)
  std::size_t deepest_array = 0;  // most arrays around an array of "data" (0: a flat array)
};

struct RawInferReply {
  bool is_object = false;
  Member outputs = Member::kAbsent;
  std::vector<RawOutput> entries;
};

// Throws BackendError("malformed reply: ...") when `json` is not valid JSON or nests deeper than
// `max_depth`. `max_rank` bounds the dimensions kept per shape.
RawInferReply read_infer_reply(std::string_view json, std::size_t max_depth, std::size_t max_rank);

}  // namespace hepinfer::remote::detail
