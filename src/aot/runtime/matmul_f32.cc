// Float matrix products for XLA's AOT runtime, with the weights packed once.
//
// Every float matrix product of an AOT-compiled model that XLA does not emit inline (all but
// matrix-vector products) is a call to xla::cpu::internal::TypedMatMul<float, float, float>,
// which the wheel's dot_lib_f32.cc implements as an Eigen tensor contraction: on every call it
// copies both operands into the layout Eigen's kernel reads ("packing"), although one of them is
// nearly always a weight matrix that never changes. tools/aot_runtime.py compiles this file in
// place of dot_lib_f32.cc. When the left operand (in Eigen's column-major terms, which is the
// weights of a dense layer: XLA swaps the operands of its row-major products) lies in a read-only
// segment of the package, it is packed once, on first use, and kept for the life of the process;
// each call then packs only the activations and runs Eigen's kernel on the stored blocks. This is
// what ONNX Runtime does with its pre-packed weights. Products with no constant left operand, a
// single column (XLA emits matrix-vector products itself, so these are rare) or a thread-pool
// device take the contraction as before.
//
// Eigen's packing routines and kernel (Eigen::internal::gemm_pack_lhs, gemm_pack_rhs,
// gebp_kernel, computeProductBlockingSizes) are the ones its own matrix products use, in the
// Eigen version the TensorFlow wheel ships, which hepinfer pins.
#include "matmul_f32.h"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#define EIGEN_USE_THREADS
#include "Eigen/Core"
#include "unsupported/Eigen/CXX11/Tensor"

namespace hepinfer::aot_runtime {
namespace {

using Index = Eigen::Index;
using Traits = Eigen::internal::gebp_traits<float, float>;
template <int StorageOrder>
using Mapper = Eigen::internal::const_blas_data_mapper<float, Index, StorageOrder>;
using ResultMapper = Eigen::internal::blas_data_mapper<float, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
using AlignedFloats = std::vector<float, Eigen::aligned_allocator<float>>;

// Products whose activations have fewer columns than this are left to the contraction: with one
// column, packing the weights buys nothing (measured: 0.76-0.89x).
constexpr Index kMinColumnsToPack = 2;

// The read-only loaded segments of the object (package library or executable) this code is in.
class OwnReadOnlySegments {
 public:
  OwnReadOnlySegments() {
    const auto self = reinterpret_cast<std::uintptr_t>(&packed_constant_matrices);
    Search search{self, {}};
    dl_iterate_phdr(&OwnReadOnlySegments::visit, &search);
    ranges_ = std::move(search.read_only);
  }

  bool contain(std::uintptr_t begin, std::uintptr_t end) const {
    return std::any_of(ranges_.begin(), ranges_.end(),
                       [&](const auto& range) { return begin >= range.first && end <= range.second; });
  }

 private:
  struct Search {
    std::uintptr_t self;
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> read_only;
  };

  static int visit(dl_phdr_info* info, std::size_t, void* data) {
    auto* search = static_cast<Search*>(data);
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> read_only;
    bool is_self = false;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
      const ElfW(Phdr)& header = info->dlpi_phdr[i];
      if (header.p_type != PT_LOAD) continue;
      const std::uintptr_t begin = info->dlpi_addr + header.p_vaddr;
      const std::uintptr_t end = begin + header.p_memsz;
      if (search->self >= begin && search->self < end) is_self = true;
      if ((header.p_flags & PF_W) == 0) read_only.emplace_back(begin, end);
    }
    if (!is_self) return 0;
    search->read_only = std::move(read_only);
    return 1;
  }

  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges_;
};

// A left operand in the blocks Eigen's kernel reads: for each (row block, depth block), in that
// order, the block packed by gemm_pack_lhs.
struct PackedMatrix {
  const float* source = nullptr;
  Index rows = 0, depth = 0;
  bool transposed = false;
  Index row_block = 0, depth_block = 0, column_block = 0;
  AlignedFloats data;
  std::vector<std::size_t> block_offsets;

  const float* block(Index row_index, Index depth_index) const {
    const Index depth_blocks = (depth + depth_block - 1) / depth_block;
    return data.data() + block_offsets[row_index * depth_blocks + depth_index];
  }
};

template <int StorageOrder>
void pack_blocks(PackedMatrix& matrix) {
  const Index stride = StorageOrder == Eigen::ColMajor ? matrix.rows : matrix.depth;
  const Mapper<StorageOrder> source(matrix.source, stride);
  Eigen::internal::gemm_pack_lhs<float, Index, Mapper<StorageOrder>, Traits::mr, Traits::LhsProgress,
                                 typename Traits::LhsPacket4Packing, StorageOrder>
      pack;
  std::size_t total = 0;
  for (Index i = 0; i < matrix.rows; i += matrix.row_block) {
    for (Index d = 0; d < matrix.depth; d += matrix.depth_block) {
      matrix.block_offsets.push_back(total);
      // Whole SIMD packets per block, so that each block starts aligned.
      const std::size_t size =
          std::min(matrix.row_block, matrix.rows - i) * std::min(matrix.depth_block, matrix.depth - d);
      total += (size + 15) / 16 * 16;
    }
  }
  matrix.data.assign(total, 0.0f);
  std::size_t block = 0;
  for (Index i = 0; i < matrix.rows; i += matrix.row_block) {
    for (Index d = 0; d < matrix.depth; d += matrix.depth_block) {
      pack(matrix.data.data() + matrix.block_offsets[block++], source.getSubMapper(i, d),
           std::min(matrix.depth_block, matrix.depth - d), std::min(matrix.row_block, matrix.rows - i));
    }
  }
}

std::unique_ptr<PackedMatrix> pack_matrix(const float* source, Index rows, Index depth, bool transposed) {
  auto matrix = std::make_unique<PackedMatrix>();
  matrix->source = source;
  matrix->rows = rows;
  matrix->depth = depth;
  matrix->transposed = transposed;
  // Blocks sized for Eigen's cache model as if the activations had many columns; a call with
  // fewer uses as many as it has.
  Index depth_block = depth, row_block = rows, column_block = Index{1} << 20;
  Eigen::internal::computeProductBlockingSizes<float, float>(depth_block, row_block, column_block, Index{1});
  matrix->row_block = std::max<Index>(row_block, 1);
  matrix->depth_block = std::max<Index>(depth_block, 1);
  matrix->column_block = std::max<Index>(column_block, 1);
  if (transposed) {
    pack_blocks<Eigen::RowMajor>(*matrix);
  } else {
    pack_blocks<Eigen::ColMajor>(*matrix);
  }
  return matrix;
}

// The packed constant matrices of this package: found without a lock (the matrices are
// immutable once published), added under one. A process-wide cache because the weights it
// derives from are process-wide constants; bounded by kSlots (beyond it, products are computed
// unpacked).
class PackedMatrices {
 public:
  const PackedMatrix* find_or_pack(const float* source, Index rows, Index depth, bool transposed) {
    if (const PackedMatrix* found = find(source, rows, depth, transposed)) return found;
    const std::lock_guard<std::mutex> lock(adding_);
    if (const PackedMatrix* found = find(source, rows, depth, transposed)) return found;
    const std::size_t start = slot_of(source);
    for (std::size_t probe = 0; probe < kSlots; ++probe) {
      std::atomic<const PackedMatrix*>& slot = slots_[(start + probe) % kSlots];
      if (slot.load(std::memory_order_relaxed) != nullptr) continue;
      owned_.push_back(pack_matrix(source, rows, depth, transposed));
      slot.store(owned_.back().get(), std::memory_order_release);
      return owned_.back().get();
    }
    return nullptr;
  }

  std::size_t size() const {
    const std::lock_guard<std::mutex> lock(adding_);
    return owned_.size();
  }

 private:
  static constexpr std::size_t kSlots = 1024;

  // Fibonacci hashing of the address: a package's constants are aligned to large powers of two,
  // so their low bits alone would put every matrix in the same slot.
  static std::size_t slot_of(const float* source) {
    return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(source) * 0x9E3779B97F4A7C15ull) >> 54) % kSlots;
  }

  const PackedMatrix* find(const float* source, Index rows, Index depth, bool transposed) const {
    const std::size_t start = slot_of(source);
    for (std::size_t probe = 0; probe < kSlots; ++probe) {
      const PackedMatrix* matrix = slots_[(start + probe) % kSlots].load(std::memory_order_acquire);
      if (matrix == nullptr) return nullptr;
      if (matrix->source == source && matrix->rows == rows && matrix->depth == depth &&
          matrix->transposed == transposed) {
        return matrix;
      }
    }
    return nullptr;
  }

  std::array<std::atomic<const PackedMatrix*>, kSlots> slots_{};
  mutable std::mutex adding_;
  std::vector<std::unique_ptr<PackedMatrix>> owned_;
};

PackedMatrices& packed_matrices() {
  static PackedMatrices* matrices = new PackedMatrices;  // never destroyed: packages are never unloaded
  return *matrices;
}

const OwnReadOnlySegments& own_read_only_segments() {
  static const OwnReadOnlySegments* segments = new OwnReadOnlySegments;
  return *segments;
}

// An uninitialised aligned buffer (Eigen's allocator, as its own products use); throws
// std::bad_alloc.
class PackedActivations {
 public:
  explicit PackedActivations(std::size_t floats)
      : data_(static_cast<float*>(Eigen::internal::aligned_malloc(sizeof(float) * std::max<std::size_t>(floats, 1)))) {}
  ~PackedActivations() { Eigen::internal::aligned_free(data_); }
  PackedActivations(const PackedActivations&) = delete;
  PackedActivations& operator=(const PackedActivations&) = delete;

  float* data() const { return data_; }

 private:
  float* data_;
};

// Eigen's generic kernel only accumulates (C += A·B), so the result must be zeroed before the first
// depth block; the AVX-512 kernel Eigen compiles in where the CPU level has AVX-512 can overwrite
// instead, which saves that pass over the result and the kernel's reads of it (the MLP test
// model's products at batch 64: 4% faster on an Intel Xeon with AVX-512).
#if defined(EIGEN_VECTORIZE_AVX512) && EIGEN_USE_AVX512_GEMM_KERNELS
constexpr bool kKernelCanOverwrite = Traits::nr == 8;
#else
constexpr bool kKernelCanOverwrite = false;
#endif

// result (rows x width) = (first_depth_block && kKernelCanOverwrite ? 0 : result) + lhs block · rhs block.
void run_kernel(const ResultMapper& result, const float* lhs_block, const float* rhs_block, Index rows, Index depth,
                Index width, bool first_depth_block) {
#if defined(EIGEN_VECTORIZE_AVX512) && EIGEN_USE_AVX512_GEMM_KERNELS
  if constexpr (kKernelCanOverwrite) {
    if (first_depth_block) {
      float one = 1.0f;
      Eigen::internal::gemm_kern_avx512<float, Traits::mr, Traits::nr, /*is_alpha1=*/true, /*is_beta0=*/true,
                                        /*is_unit_inc=*/true>(rows, width, depth, &one, lhs_block, rhs_block,
                                                              const_cast<float*>(result.data()), result.stride());
      return;
    }
  }
#endif
  static_cast<void>(first_depth_block);
  Eigen::internal::gebp_kernel<float, float, Index, ResultMapper, Traits::mr, Traits::nr, false, false> kernel;
  kernel(result, lhs_block, rhs_block, rows, depth, width, 1.0f);
}

// out (m x n) = packed (m x k) * rhs (k x n), out column-major with leading dimension m.
template <int RhsStorageOrder>
void multiply_packed(const PackedMatrix& lhs, const float* rhs_data, Index columns, float* out) {
  if (!kKernelCanOverwrite) std::memset(out, 0, sizeof(float) * static_cast<std::size_t>(lhs.rows * columns));
  const Index rhs_stride = RhsStorageOrder == Eigen::ColMajor ? lhs.depth : columns;
  const Mapper<RhsStorageOrder> rhs(rhs_data, rhs_stride);
  const ResultMapper result(out, lhs.rows);
  Eigen::internal::gemm_pack_rhs<float, Index, Mapper<RhsStorageOrder>, Traits::nr, RhsStorageOrder> pack_rhs;

  const Index column_block = std::min(columns, lhs.column_block);
  // The packed activations, allocated per call as Eigen's contraction does. Not a thread_local
  // buffer: dynamic TLS in a dlopen'd library crashes LeakSanitizer (GCC <= 13, LLVM <= 16) in
  // every sanitized process that runs a package.
  const PackedActivations packed_rhs(static_cast<std::size_t>(std::min(lhs.depth_block, lhs.depth) * column_block));

  for (Index d = 0, depth_index = 0; d < lhs.depth; d += lhs.depth_block, ++depth_index) {
    const Index depth = std::min(lhs.depth_block, lhs.depth - d);
    for (Index c = 0; c < columns; c += column_block) {
      const Index width = std::min(column_block, columns - c);
      pack_rhs(packed_rhs.data(), rhs.getSubMapper(d, c), depth, width);
      for (Index r = 0, row_index = 0; r < lhs.rows; r += lhs.row_block, ++row_index) {
        run_kernel(result.getSubMapper(r, c), lhs.block(row_index, depth_index), packed_rhs.data(),
                   std::min(lhs.row_block, lhs.rows - r), depth, width, depth_index == 0);
      }
    }
  }
}

// The runtime's own computation: an Eigen tensor contraction, on `device` when there is one.
template <Eigen::AlignmentType Alignment>
void contract(const Eigen::ThreadPoolDevice* device, float* out, const float* lhs, const float* rhs, Index m, Index n,
              Index k, bool transpose_lhs, bool transpose_rhs, absl::AnyInvocable<void()> done) {
  using Matrix = Eigen::TensorMap<Eigen::Tensor<const float, 2>, Alignment>;
  const Matrix a(lhs, transpose_lhs ? k : m, transpose_lhs ? m : k);
  const Matrix b(rhs, transpose_rhs ? n : k, transpose_rhs ? k : n);
  Eigen::TensorMap<Eigen::Tensor<float, 2>, Alignment> c(out, m, n);
  using Pair = Eigen::Tensor<float, 2>::DimensionPair;
  const std::array<Pair, 1> dimensions{Pair(transpose_lhs ? 0 : 1, transpose_rhs ? 1 : 0)};
  if (device != nullptr) {
    c.device(*device, std::move(done)) = a.contract(b, dimensions);
  } else {
    c = a.contract(b, dimensions);
    done();
  }
}

}  // namespace

std::size_t packed_constant_matrices() { return packed_matrices().size(); }

bool in_own_read_only_segment(const void* data, std::size_t bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  return own_read_only_segments().contain(begin, begin + bytes);
}

}  // namespace hepinfer::aot_runtime

namespace xla::cpu::internal {

template <>
void TypedMatMul<float, float, float>(const Eigen::ThreadPoolDevice* device, void* out, void* lhs, void* rhs,
                                      int64_t m, int64_t n, int64_t k, bool transpose_lhs, bool transpose_rhs,
                                      absl::AnyInvocable<void()> done) {
  namespace runtime = hepinfer::aot_runtime;
  auto* result = static_cast<float*>(out);
  const auto* left = static_cast<const float*>(lhs);
  const auto* right = static_cast<const float*>(rhs);
  if (device == nullptr && n >= runtime::kMinColumnsToPack && m > 0 && k > 0 &&
      runtime::in_own_read_only_segment(left, sizeof(float) * static_cast<std::size_t>(m * k))) {
    // Out of memory while packing: the contraction below needs less and writes every element.
    try {
      if (const runtime::PackedMatrix* packed = runtime::packed_matrices().find_or_pack(left, m, k, transpose_lhs)) {
        if (transpose_rhs) {
          runtime::multiply_packed<Eigen::RowMajor>(*packed, right, n, result);
        } else {
          runtime::multiply_packed<Eigen::ColMajor>(*packed, right, n, result);
        }
        done();
        return;
      }
    } catch (const std::bad_alloc&) {
    }
  }
  const auto aligned = [](const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; };
  if (aligned(out) && aligned(lhs) && aligned(rhs)) {
    runtime::contract<Eigen::Aligned16>(device, result, left, right, m, n, k, transpose_lhs, transpose_rhs,
                                        std::move(done));
  } else {
    runtime::contract<Eigen::Unaligned>(device, result, left, right, m, n, k, transpose_lhs, transpose_rhs,
                                        std::move(done));
  }
}

}  // namespace xla::cpu::internal
