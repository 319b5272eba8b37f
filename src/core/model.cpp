#include "hepinfer/core/model.h"

#include <algorithm>

#include "hepinfer/core/error.h"

namespace hepinfer {
namespace {

const TensorInfo* find_by_key(const std::vector<TensorInfo>& infos, std::string_view key) {
  auto it = std::find_if(infos.begin(), infos.end(), [&](const TensorInfo& info) { return info.key == key; });
  return it == infos.end() ? nullptr : &*it;
}

}  // namespace

std::string_view threading_mode_name(ThreadingMode mode) {
  switch (mode) {
    case ThreadingMode::kInline: return "inline";
    case ThreadingMode::kTbb: return "tbb";
    case ThreadingMode::kBackendPools: return "pools";
  }
  return "unknown";
}

std::optional<ThreadingMode> parse_threading_mode(std::string_view name) {
  for (ThreadingMode mode : {ThreadingMode::kInline, ThreadingMode::kTbb, ThreadingMode::kBackendPools}) {
    if (threading_mode_name(mode) == name) return mode;
  }
  if (name == "tensorflow") return ThreadingMode::kBackendPools;
  return std::nullopt;
}

const TensorInfo* SignatureInfo::find_input(std::string_view name) const { return find_by_key(inputs, name); }

const SignatureInfo& ModelInfo::signature(std::string_view key) const {
  for (const SignatureInfo& candidate : signatures) {
    if (candidate.key == key) return candidate;
  }
  std::string available;
  for (const SignatureInfo& candidate : signatures) {
    available += (available.empty() ? "" : ", ") + ("'" + candidate.key + "'");
  }
  throw NotFoundError("model '" + path + "' has no signature '" + std::string(key) +
                      "'; available: " + (available.empty() ? "none" : available));
}

void check_input_matches(const TensorInfo& expected, const Tensor& tensor, std::string_view context) {
  if (tensor.dtype() == expected.dtype && expected.shape.accepts(tensor.shape())) return;  // the hot path
  const std::string where = "model '" + std::string(context) + "', input '" + expected.key + "' (" +
                            expected.tensor_name + ")";
  if (tensor.dtype() != expected.dtype) {
    throw DTypeMismatchError(where + ": expected dtype " + std::string(dtype_name(expected.dtype)) +
                             ", got " + std::string(dtype_name(tensor.dtype())));
  }
  throw ShapeMismatchError(where + ": expected shape " + expected.shape.to_string() + ", got " +
                           tensor.shape().to_string());
}

std::int64_t MemoryModel::max_rows_within(std::int64_t budget_bytes) const {
  if (budget_bytes < fixed_bytes + bytes_per_row) return 0;
  if (bytes_per_row <= 0) return std::numeric_limits<std::int64_t>::max();
  return (budget_bytes - fixed_bytes) / bytes_per_row;
}

}  // namespace hepinfer
