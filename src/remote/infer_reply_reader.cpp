#include "infer_reply_reader.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "hepinfer/core/error.h"

namespace hepinfer::remote::detail {
namespace {

using nlohmann::json;

// The members the reader looks at; any other key's value is skipped.
enum class Key : std::uint8_t { kOther, kOutputs, kName, kDatatype, kShape, kParameters, kBinaryDataSize, kData };

Key key_of(std::string_view text) {
  if (text == "outputs") return Key::kOutputs;
  if (text == "name") return Key::kName;
  if (text == "datatype") return Key::kDatatype;
  if (text == "shape") return Key::kShape;
  if (text == "parameters") return Key::kParameters;
  if (text == "binary_data_size") return Key::kBinaryDataSize;
  if (text == "data") return Key::kData;
  return Key::kOther;
}

// Where a JSON container sits in the reply.
enum class Place : std::uint8_t { kReply, kOutputs, kOutput, kShape, kParameters, kData, kSkipped };

struct Frame {
  Place place;
  std::size_t data_depth = 0;  // kData: how many arrays of "data" enclose this one's values
};

// nlohmann's SAX interface; every event returns whether to go on.
class ReplyEvents {
 public:
  ReplyEvents(std::size_t max_depth, std::size_t max_rank) : max_depth_(max_depth), max_rank_(max_rank) {}

  bool null() { return scalar(JsonLeaf{}); }
  bool boolean(bool value) {
    JsonLeaf leaf;
    leaf.kind = JsonLeaf::Kind::kBool;
    leaf.boolean = value;
    return scalar(leaf);
  }
  bool number_integer(json::number_integer_t value) {  // nlohmann's lexer: numbers with a minus sign
    JsonLeaf leaf;
    leaf.kind = JsonLeaf::Kind::kSigned;
    leaf.signed_value = value;
    return scalar(leaf);
  }
  bool number_unsigned(json::number_unsigned_t value) {
    JsonLeaf leaf;
    leaf.kind = JsonLeaf::Kind::kUnsigned;
    leaf.unsigned_value = value;
    return scalar(leaf);
  }
  bool number_float(json::number_float_t value, const json::string_t& /*text*/) {
    JsonLeaf leaf;
    leaf.kind = JsonLeaf::Kind::kFloat;
    leaf.floating = value;
    return scalar(leaf);
  }
  bool string(json::string_t& value) {
    if (!frames_.empty() && frames_.back().place == Place::kOutput) {
      RawOutput& output = reply_.entries.back();
      if (key_ == Key::kName) {
        output.name = Member::kPresent;
        output.name_text.assign(value);
        return true;
      }
      if (key_ == Key::kDatatype) {
        output.datatype = Member::kPresent;
        output.datatype_text.assign(value);
        return true;
      }
    }
    JsonLeaf leaf;
    leaf.kind = JsonLeaf::Kind::kString;
    return scalar(leaf);
  }
  bool binary(json::binary_t& /*value*/) { return scalar(JsonLeaf{}); }  // not in JSON text
  bool key(json::string_t& value) {
    key_ = key_of(value);
    return true;
  }
  bool start_object(std::size_t /*elements*/) { return open(false); }
  bool start_array(std::size_t /*elements*/) { return open(true); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/, const nlohmann::detail::exception& /*e*/) {
    invalid_ = true;
    return false;
  }

  bool too_deep() const { return too_deep_; }
  bool invalid() const { return invalid_; }
  RawInferReply take() { return std::move(reply_); }

 private:
  static void restart_shape(RawOutput& output, Member member) {
    output.shape = member;
    output.dims.clear();
    output.rank = 0;
    output.shape_has_non_integer = false;
    output.shape_has_negative = false;
  }
  static void restart_data(RawOutput& output) {
    output.data = Member::kPresent;
    output.leaves.clear();
    output.leaf_depths = 0;
    output.deepest_array = 0;
  }
  static void add_leaf(RawOutput& output, const JsonLeaf& leaf, std::size_t depth) {
    output.leaves.push_back(leaf);
    output.leaf_depths |= std::uint64_t{1} << depth;  // depth < max_depth <= 63
  }

  void add_dim(RawOutput& output, const JsonLeaf& leaf) const {
    ++output.rank;
    std::int64_t value = 0;
    if (leaf.kind == JsonLeaf::Kind::kUnsigned) {
      if (leaf.unsigned_value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        output.shape_has_negative = true;  // as int64 it would read negative
        return;
      }
      value = static_cast<std::int64_t>(leaf.unsigned_value);
    } else if (leaf.kind == JsonLeaf::Kind::kSigned) {
      if (leaf.signed_value < 0) {
        output.shape_has_negative = true;
        return;
      }
      value = leaf.signed_value;
    } else {
      output.shape_has_non_integer = true;
      return;
    }
    if (output.dims.size() <= max_rank_) output.dims.push_back(value);
  }

  // A value that is not a container, or the start of one (`leaf` then says which kind of container
  // it is, for "data", and nothing below it is kept unless the returned place says so).
  Place value(const JsonLeaf& leaf, bool is_array) {
    if (frames_.empty()) {
      reply_.is_object = !is_array && leaf.kind == JsonLeaf::Kind::kObject;
      return reply_.is_object ? Place::kReply : Place::kSkipped;
    }
    const Frame& here = frames_.back();
    switch (here.place) {
      case Place::kReply:
        if (key_ != Key::kOutputs) return Place::kSkipped;
        reply_.entries.clear();
        reply_.outputs = is_array ? Member::kPresent : Member::kWrongType;
        return is_array ? Place::kOutputs : Place::kSkipped;
      case Place::kOutputs:
        reply_.entries.emplace_back();
        reply_.entries.back().is_object = leaf.kind == JsonLeaf::Kind::kObject && !is_array;
        return reply_.entries.back().is_object ? Place::kOutput : Place::kSkipped;
      case Place::kOutput: {
        RawOutput& output = reply_.entries.back();
        switch (key_) {
          case Key::kName: output.name = Member::kWrongType; break;  // strings are taken in string()
          case Key::kDatatype: output.datatype = Member::kWrongType; break;
          case Key::kShape:
            restart_shape(output, is_array ? Member::kPresent : Member::kWrongType);
            return is_array ? Place::kShape : Place::kSkipped;
          case Key::kParameters:  // anything but an object is ignored, as it replaces an earlier one
            output.binary_data_size = Member::kAbsent;
            return !is_array && leaf.kind == JsonLeaf::Kind::kObject ? Place::kParameters : Place::kSkipped;
          case Key::kData:
            restart_data(output);
            if (is_array) return Place::kData;
            add_leaf(output, leaf, 0);
            break;
          default: break;
        }
        return Place::kSkipped;
      }
      case Place::kParameters:
        if (key_ == Key::kBinaryDataSize) {
          RawOutput& output = reply_.entries.back();
          const bool usable = !is_array && leaf.kind == JsonLeaf::Kind::kUnsigned;
          output.binary_data_size = usable ? Member::kPresent : Member::kWrongType;
          output.binary_data_size_value = usable ? leaf.unsigned_value : 0;
        }
        return Place::kSkipped;
      case Place::kShape:
        if (is_array) {
          ++reply_.entries.back().rank;
          reply_.entries.back().shape_has_non_integer = true;
        } else {
          add_dim(reply_.entries.back(), leaf);
        }
        return Place::kSkipped;
      case Place::kData: {
        RawOutput& output = reply_.entries.back();
        if (is_array) {
          output.deepest_array = std::max(output.deepest_array, here.data_depth);
          return Place::kData;
        }
        add_leaf(output, leaf, here.data_depth);
        return Place::kSkipped;
      }
      case Place::kSkipped: return Place::kSkipped;
    }
    return Place::kSkipped;
  }

  bool scalar(const JsonLeaf& leaf) {
    value(leaf, false);
    return true;
  }

  bool open(bool is_array) {
    if (frames_.size() >= max_depth_) {
      too_deep_ = true;
      return false;
    }
    JsonLeaf container;
    container.kind = JsonLeaf::Kind::kObject;  // arrays are told apart by `is_array`
    const std::size_t outer_data_depth =
        !frames_.empty() && frames_.back().place == Place::kData ? frames_.back().data_depth : 0;
    const Place place = value(container, is_array);
    frames_.push_back({place, place == Place::kData ? outer_data_depth + 1 : 0});
    return true;
  }

  bool close() {
    frames_.pop_back();
    return true;
  }

  std::size_t max_depth_;
  std::size_t max_rank_;
  std::vector<Frame> frames_;
  Key key_ = Key::kOther;
  bool too_deep_ = false;
  bool invalid_ = false;
  RawInferReply reply_;
};

}  // namespace

RawInferReply read_infer_reply(std::string_view json_text, std::size_t max_depth, std::size_t max_rank) {
  ReplyEvents events(std::min<std::size_t>(max_depth, 63), max_rank);
  json::sax_parse(json_text.begin(), json_text.end(), &events);
  if (events.too_deep()) {
    throw BackendError("malformed reply: the reply header is nested deeper than " + std::to_string(max_depth));
  }
  if (events.invalid()) throw BackendError("malformed reply: the reply header is not valid JSON");
  return events.take();
}

}  // namespace hepinfer::remote::detail
