#pragma once
// What the stub server's well-behaved models compute, y = 2x on float32 [-1, 4]: inputs for them
// and the check of their outputs, shared by the tests that talk to the stub.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hepinfer/core/tensor.h"

namespace hepinfer::testing {

// `rows` rows of 4 floats counting up from `start`.
inline Tensor rows_of(std::int64_t rows, float start = 0.5f) {
  std::vector<float> values(static_cast<std::size_t>(rows * 4));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = start + static_cast<float>(i);
  return Tensor::from_values<float>(Shape{rows, 4}, values);
}

inline void expect_doubled(const Tensor& input, const Tensor& output) {
  ASSERT_EQ(output.shape(), input.shape());
  auto in = input.values<float>();
  auto out = output.values<float>();
  for (std::size_t i = 0; i < in.size(); ++i) ASSERT_FLOAT_EQ(out[i], 2 * in[i]) << "element " << i;
}

}  // namespace hepinfer::testing
