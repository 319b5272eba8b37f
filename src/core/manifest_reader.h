#pragma once
// Reading the JSON manifests of compiled models (XLA artifacts, AOT packages) with one typed error
// per malformed field. Private to the library (not installed): nlohmann-json is needed to build
// the backends, not by their users.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"
#include "hepinfer/core/model.h"
#include "nlohmann/json.hpp"

namespace hepinfer::detail {

class ManifestReader {
 public:
  // `what` names the kind of manifest in messages, e.g. "XLA artifact manifest".
  ManifestReader(std::filesystem::path manifest, std::string what)
      : manifest_(std::move(manifest)), what_(std::move(what)) {}

  const std::filesystem::path& path() const { return manifest_; }

  // The manifest's JSON; InvalidModelError if it is not JSON, FileNotFoundError if unreadable.
  nlohmann::json parse() const {
    try {
      return nlohmann::json::parse(read_regular_file(manifest_, what_));
    } catch (const nlohmann::json::exception& error) {
      fail("(file)", std::string("not valid JSON: ") + error.what());
    }
  }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw InvalidModelError(what_ + " '" + manifest_.string() + "': " + field + ": " + what);
  }

  const nlohmann::json& at(const nlohmann::json& object, const std::string& key, const std::string& field) const {
    if (!object.is_object() || !object.contains(key)) fail(field, "missing");
    return object.at(key);
  }

  std::string text(const nlohmann::json& object, const std::string& key, const std::string& field) const {
    const nlohmann::json& value = at(object, key, field);
    if (!value.is_string()) fail(field, "expected a string");
    return value.get<std::string>();
  }

  std::int64_t integer(const nlohmann::json& object, const std::string& key, const std::string& field) const {
    const nlohmann::json& value = at(object, key, field);
    if (!value.is_number_integer()) fail(field, "expected an integer");
    return value.get<std::int64_t>();
  }

  // A tensor entry {"name", "dtype", "shape": [-1, known...], optional "tensor": "x:0"}. With
  // `per_call_allowed`, the shape may also be fully known (an input fed whole with every run,
  // core/per_call_inputs.h; [] for a scalar).
  TensorInfo tensor(const nlohmann::json& entry, const std::string& field, bool per_call_allowed = false) const {
    TensorInfo info;
    info.key = text(entry, "name", field + ".name");
    // The graph tensor's name ("x:0") for models compiled from frozen graphs, whose runs may name it.
    info.tensor_name = entry.contains("tensor") ? text(entry, "tensor", field + ".tensor") : info.key;
    const std::string dtype = text(entry, "dtype", field + ".dtype");
    const auto parsed = parse_dtype(dtype);
    if (!parsed) fail(field + ".dtype", "'" + dtype + "' is not float32, float64, int32, int64 or bool");
    info.dtype = *parsed;
    const nlohmann::json& shape = at(entry, "shape", field + ".shape");
    const std::string expected = per_call_allowed ? "expected -1 (the batch) or a known dimension, then known dimensions"
                                                  : "expected -1 (the batch) and then known dimensions";
    if (!shape.is_array() || (shape.empty() && !per_call_allowed)) fail(field + ".shape", expected);
    std::vector<std::int64_t> dims;
    for (std::size_t i = 0; i < shape.size(); ++i) {
      if (!shape[i].is_number_integer()) fail(field + ".shape", "expected integer dimensions");
      const std::int64_t dim = shape[i].get<std::int64_t>();
      const bool batch = i == 0 && dim == -1;
      if (!batch && (dim < 0 || (i == 0 && !per_call_allowed))) fail(field + ".shape", expected);
      dims.push_back(dim);
    }
    info.shape = Shape(std::move(dims));
    if (entry.contains("index_range")) {
      const nlohmann::json& range = entry.at("index_range");
      const bool integral = info.dtype == DType::kInt32 || info.dtype == DType::kInt64;
      if (!integral || !range.is_array() || range.size() != 2 || !range[0].is_number_integer() ||
          !range[1].is_number_integer() || range[0].get<std::int64_t>() >= range[1].get<std::int64_t>()) {
        fail(field + ".index_range", "expected [low, high) with low < high, on an int32 or int64 tensor");
      }
      info.index_range = IndexRange{range[0].get<std::int64_t>(), range[1].get<std::int64_t>()};
    }
    return info;
  }

  // A non-empty list of tensor entries with distinct names. Inputs (`key` "inputs") may include
  // per-call ones, beside at least one that follows the batch; outputs all follow it.
  std::vector<TensorInfo> tensors(const nlohmann::json& manifest, const std::string& key) const {
    const nlohmann::json& list = at(manifest, key, key);
    if (!list.is_array() || list.empty()) fail(key, "expected a non-empty list");
    const bool inputs = key == "inputs";
    std::vector<TensorInfo> infos;
    std::set<std::string> names;
    for (std::size_t i = 0; i < list.size(); ++i) {
      infos.push_back(tensor(list[i], key + "[" + std::to_string(i) + "]", inputs));
      if (!names.insert(infos.back().key).second) fail(key, "'" + infos.back().key + "' appears twice");
    }
    if (inputs && std::none_of(infos.begin(), infos.end(), [](const TensorInfo& info) {
          return info.shape.rank() > 0 && info.shape[0] == Shape::kUnknownDim;
        })) {
      fail(key, "expected at least one input whose first dimension is -1 (the batch)");
    }
    return infos;
  }

  // A file name inside `directory` (no absolute path, no "..").
  std::filesystem::path file_inside(const std::filesystem::path& directory, const nlohmann::json& object,
                                    const std::string& key, const std::string& field) const {
    const std::string file = text(object, key, field);
    if (file.empty() || std::filesystem::path(file).is_absolute() || file.find("..") != std::string::npos) {
      fail(field, "expected a file name inside '" + directory.string() + "', got '" + file + "'");
    }
    return directory / file;
  }

 private:
  std::filesystem::path manifest_;
  std::string what_;
};

}  // namespace hepinfer::detail
