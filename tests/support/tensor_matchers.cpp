#include "tensor_matchers.h"

#include <cmath>
#include <type_traits>

namespace hepinfer::test {
namespace {

// Float16 is compared as the float it widens to.
template <class T>
auto comparable(T value) {
  if constexpr (std::is_same_v<T, Float16>) {
    return value.to_float();
  } else {
    return value;
  }
}

template <class T>
::testing::AssertionResult compare(const Tensor& actual, const Tensor& expected, double tolerance) {
  const auto got_values = actual.values<T>();
  const auto want_values = expected.values<T>();
  for (std::size_t i = 0; i < got_values.size(); ++i) {
    const auto got = comparable(got_values[i]);
    const auto want = comparable(want_values[i]);
    bool equal = got == want;
    if constexpr (std::is_floating_point_v<decltype(got)>) {
      const double difference = std::abs(static_cast<double>(got) - static_cast<double>(want));
      equal = equal || difference <= tolerance * (1.0 + std::abs(static_cast<double>(want))) ||
              (std::isnan(got) && std::isnan(want));  // NaN where NaN is expected
    }
    if (!equal) {
      return ::testing::AssertionFailure() << "element " << i << " differs: got " << +got << ", expected " << +want
                                           << " (tolerance " << tolerance << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult tensors_match(const Tensor& actual, const Tensor& expected, double tolerance) {
  if (actual.dtype() != expected.dtype() || !(actual.shape() == expected.shape())) {
    return ::testing::AssertionFailure() << "got " << actual.description() << ", expected " << expected.description();
  }
  return visit_dtype(expected.dtype(), [&]<class T>() { return compare<T>(actual, expected, tolerance); });
}

}  // namespace hepinfer::test
