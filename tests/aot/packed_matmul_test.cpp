// hepinfer's float matrix product for XLA's AOT runtime (src/aot/runtime/matmul_f32.cc), linked
// here as it is into a package: weights that are constants of this executable are packed once and
// reused; everything else is computed by Eigen's contraction. Checked against a plain
// double-precision product for the shapes that exercise Eigen's blocking (several depth blocks,
// several column blocks, rows not a multiple of the kernel's), both storage orders of both operands.
#include "aot/runtime/matmul_f32.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr std::int64_t kMaxRows = 64;
constexpr std::int64_t kMaxDepth = 1200;

// Weights as a compiled model has them: constants in the read-only segment of the object the
// product is linked into.
constexpr std::array<float, kMaxRows * kMaxDepth> make_weights() {
  std::array<float, kMaxRows * kMaxDepth> weights{};
  for (std::int64_t i = 0; i < kMaxRows * kMaxDepth; ++i) weights[i] = static_cast<float>(i * 37 % 101) / 101.0f - 0.5f;
  return weights;
}
constexpr std::array<float, kMaxRows * kMaxDepth> kWeights = make_weights();

std::vector<float> activations(std::int64_t size) {
  std::vector<float> values(static_cast<std::size_t>(size));
  for (std::int64_t i = 0; i < size; ++i) values[i] = static_cast<float>(i * 53 % 89) / 89.0f - 0.25f;
  return values;
}

// out (m x n, column-major) = lhs * rhs, each stored column-major or transposed, in double.
std::vector<double> reference(const float* lhs, const float* rhs, std::int64_t m, std::int64_t n, std::int64_t k,
                              bool transpose_lhs, bool transpose_rhs) {
  std::vector<double> out(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t column = 0; column < n; ++column) {
    for (std::int64_t row = 0; row < m; ++row) {
      double sum = 0.0;
      for (std::int64_t d = 0; d < k; ++d) {
        const float a = transpose_lhs ? lhs[row * k + d] : lhs[d * m + row];
        const float b = transpose_rhs ? rhs[d * n + column] : rhs[column * k + d];
        sum += static_cast<double>(a) * b;
      }
      out[column * m + row] = sum;
    }
  }
  return out;
}

struct Shape {
  std::int64_t m, n, k;
};

// Runs the product as XLA's compiled code calls it; returns how often `done` was called.
int multiply(const float* lhs, const float* rhs, float* out, const Shape& shape, bool transpose_lhs,
             bool transpose_rhs) {
  int done_calls = 0;
  xla::cpu::internal::TypedMatMul<float, float, float>(nullptr, out, const_cast<float*>(lhs), const_cast<float*>(rhs),
                                                       shape.m, shape.n, shape.k, transpose_lhs, transpose_rhs,
                                                       [&done_calls] { ++done_calls; });
  return done_calls;
}

void expect_product(const float* lhs, const Shape& shape, bool transpose_lhs, bool transpose_rhs) {
  const std::vector<float> rhs = activations(shape.k * shape.n);
  std::vector<float> out(static_cast<std::size_t>(shape.m * shape.n), -1.0f);
  ASSERT_EQ(multiply(lhs, rhs.data(), out.data(), shape, transpose_lhs, transpose_rhs), 1);
  const std::vector<double> expected =
      reference(lhs, rhs.data(), shape.m, shape.n, shape.k, transpose_lhs, transpose_rhs);
  for (std::size_t i = 0; i < out.size(); ++i) {
    ASSERT_NEAR(out[i], expected[i], 1e-4 * (1.0 + std::abs(expected[i])))
        << "element " << i << " of " << shape.m << "x" << shape.k << " * " << shape.k << "x" << shape.n
        << (transpose_lhs ? ", lhs transposed" : "") << (transpose_rhs ? ", rhs transposed" : "");
  }
}

const Shape kShapes[] = {
    {64, 64, 256},   // a dense layer at batch 64
    {8, 64, 256},    // a narrow output layer
    {47, 5, 33},     // rows not a multiple of the kernel's, few columns
    {40, 2, 1200},   // depth split into several blocks
    {64, 130, 300},  // columns split into several blocks
};

TEST(PackedMatMul, ConstantWeightsArePackedOnceAndAgreeWithAPlainProduct) {
  for (const bool transpose_lhs : {false, true}) {
    for (const bool transpose_rhs : {false, true}) {
      for (const Shape& shape : kShapes) {
        SCOPED_TRACE(testing::Message() << shape.m << "x" << shape.k << " * " << shape.k << "x" << shape.n
                                        << " transposed " << transpose_lhs << transpose_rhs);
        const std::size_t before = hepinfer::aot_runtime::packed_constant_matrices();
        expect_product(kWeights.data(), shape, transpose_lhs, transpose_rhs);
        const std::size_t after_first = hepinfer::aot_runtime::packed_constant_matrices();
        // Packed when first met; the activations' storage order does not make a new copy.
        EXPECT_EQ(after_first, before + (transpose_rhs ? 0 : 1));
        expect_product(kWeights.data(), shape, transpose_lhs, transpose_rhs);
        EXPECT_EQ(hepinfer::aot_runtime::packed_constant_matrices(), after_first) << "packed again";
      }
    }
  }
}

TEST(PackedMatMul, WritableOperandsAndSingleColumnsAreComputedUnpacked) {
  const std::vector<float> writable(kWeights.begin(), kWeights.end());
  const std::size_t before = hepinfer::aot_runtime::packed_constant_matrices();
  for (const bool transpose_lhs : {false, true}) {
    for (const bool transpose_rhs : {false, true}) {
      for (const Shape& shape : kShapes) expect_product(writable.data(), shape, transpose_lhs, transpose_rhs);
      expect_product(kWeights.data(), {64, 1, 256}, transpose_lhs, transpose_rhs);
    }
  }
  EXPECT_EQ(hepinfer::aot_runtime::packed_constant_matrices(), before);
}

TEST(PackedMatMul, KnowsWhichMemoryIsReadOnly) {
  using hepinfer::aot_runtime::in_own_read_only_segment;
  EXPECT_TRUE(in_own_read_only_segment(kWeights.data(), sizeof(kWeights)));
  const std::vector<float> heap(16, 1.0f);
  EXPECT_FALSE(in_own_read_only_segment(heap.data(), sizeof(float) * heap.size()));
  float stack[16] = {};
  EXPECT_FALSE(in_own_read_only_segment(stack, sizeof(stack)));
  static float writable_global[16];
  EXPECT_FALSE(in_own_read_only_segment(writable_global, sizeof(writable_global)));
}

TEST(PackedMatMul, ThreadsMeetingNewWeightsTogetherShareOnePackedCopy) {
  const Shape shape{33, 16, 512};  // used by no other test
  const std::vector<float> rhs = activations(shape.k * shape.n);
  const std::vector<double> expected = reference(kWeights.data(), rhs.data(), shape.m, shape.n, shape.k, false, false);
  const std::size_t before = hepinfer::aot_runtime::packed_constant_matrices();
  constexpr int kThreads = 16;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> out(static_cast<std::size_t>(shape.m * shape.n));
      for (int repeat = 0; repeat < 20; ++repeat) {
        multiply(kWeights.data(), rhs.data(), out.data(), shape, false, false);
        for (std::size_t i = 0; i < out.size(); ++i) {
          if (std::abs(out[i] - expected[i]) > 1e-4 * (1.0 + std::abs(expected[i]))) ++wrong[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
  EXPECT_EQ(hepinfer::aot_runtime::packed_constant_matrices(), before + 1);
}

}  // namespace
