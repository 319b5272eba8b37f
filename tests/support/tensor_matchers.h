#pragma once
// Assertions comparing hepinfer tensors element by element.

#include <gtest/gtest.h>

#include <string>

#include "hepinfer/core/tensor.h"

namespace hepinfer::test {

// Same dtype and shape, and every element within `tolerance` (absolute plus relative to the
// expected magnitude) for floats; exactly equal for integers, bools, or tolerance 0.
::testing::AssertionResult tensors_match(const Tensor& actual, const Tensor& expected, double tolerance);

}  // namespace hepinfer::test

#define EXPECT_TENSORS_MATCH(actual, expected, tolerance) \
  EXPECT_TRUE(::hepinfer::test::tensors_match((actual), (expected), (tolerance)))
