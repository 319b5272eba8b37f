// hepinfer's float matrix product for XLA's AOT runtime (matmul_f32.cc), compiled into every AOT
// package in place of the runtime's own dot_lib_f32.cc by tools/aot_runtime.py. Declared here
// are the entry point XLA's compiled code calls and what the tests read back.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/functional/any_invocable.h"

namespace Eigen {
struct ThreadPoolDevice;
}

namespace xla::cpu::internal {

// The runtime's signature (xla/backends/cpu/runtime/dot_lib.h), restated because that header
// also defines the template's body, which this replacement must not instantiate. Column-major
// out (m x n) = lhs (m x k) * rhs (k x n), either operand stored transposed; `done` is called
// once the product is written.
template <typename LhsType, typename RhsType, typename OutType>
void TypedMatMul(const Eigen::ThreadPoolDevice* device, void* out, void* lhs, void* rhs, int64_t m, int64_t n,
                 int64_t k, bool transpose_lhs, bool transpose_rhs, absl::AnyInvocable<void()> done);

// hepinfer's float product (matmul_f32.cc): the symbol XLA's compiled code calls.
template <>
void TypedMatMul<float, float, float>(const Eigen::ThreadPoolDevice* device, void* out, void* lhs, void* rhs,
                                      int64_t m, int64_t n, int64_t k, bool transpose_lhs, bool transpose_rhs,
                                      absl::AnyInvocable<void()> done);

}  // namespace xla::cpu::internal

namespace hepinfer::aot_runtime {

// How many constant matrices have been packed so far in this package (for the tests).
std::size_t packed_constant_matrices();

// Whether [data, data + bytes) lies in a read-only segment of the object this code is linked
// into: a package's weights, which cannot change while it is loaded.
bool in_own_read_only_segment(const void* data, std::size_t bytes);

}  // namespace hepinfer::aot_runtime
