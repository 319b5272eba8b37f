#include "tensor_matchers.h"

#include <cmath>

namespace hepinfer::test {
namespace {

template <class T>
::testing::AssertionResult compare(const Tensor& actual, const Tensor& expected, double tolerance) {
  const auto got = actual.values<T>();
  const auto want = expected.values<T>();
  for (std::size_t i = 0; i < got.size(); ++i) {
    bool equal = got[i] == want[i];
    if constexpr (std::is_floating_point_v<T>) {
      const double difference = std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
      equal = equal || difference <= tolerance * (1.0 + std::abs(static_cast<double>(want[i]))) ||
              (std::isnan(got[i]) && std::isnan(want[i]));  // NaN where NaN is expected
    }
    if (!equal) {
      return ::testing::AssertionFailure() << "element " << i << " differs: got " << +got[i] << ", expected "
                                           << +want[i] << " (tolerance " << tolerance << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult tensors_match(const Tensor& actual, const Tensor& expected, double tolerance) {
  if (actual.dtype() != expected.dtype() || !(actual.shape() == expected.shape())) {
    return ::testing::AssertionFailure() << "got " << actual.description() << ", expected " << expected.description();
  }
  switch (expected.dtype()) {
    case DType::kFloat32: return compare<float>(actual, expected, tolerance);
    case DType::kFloat64: return compare<double>(actual, expected, tolerance);
    case DType::kInt32: return compare<std::int32_t>(actual, expected, tolerance);
    case DType::kInt64: return compare<std::int64_t>(actual, expected, tolerance);
    case DType::kBool: return compare<bool>(actual, expected, tolerance);
  }
  return ::testing::AssertionFailure() << "unknown dtype";
}

}  // namespace hepinfer::test
