// The time one core of this host needs for a number of float operations at its peak rate of
// multiply-adds: a lower bound for any call that performs them. A dense model does one
// multiply-add per weight and row, so above batch 1 arithmetic, not memory, bounds it (read_floor.h
// is the batch-1 counterpart). Benchmarks put it next to the backend they measure, so that a ratio
// against a peer can be judged against what the machine allows.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "latency_stats.h"

namespace hepinfer::bench {

// Independent multiply-add chains: more than the multiply-add units times their latency (2 x 4 on
// current x86 cores), few enough to stay in registers at every vector width.
constexpr int kMultiplyAddChains = 12;

// Each function runs `rounds` x kMultiplyAddChains vector multiply-adds and returns a value that
// depends on all of them; one per instruction set, chosen at run time, because the widest the
// host has is its peak.
__attribute__((target("avx512f"), noinline)) inline float multiply_adds_avx512(std::int64_t rounds) {
  __m512 chains[kMultiplyAddChains];
  const __m512 scale = _mm512_set1_ps(0.999999f), shift = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < kMultiplyAddChains; ++i) chains[i] = _mm512_set1_ps(static_cast<float>(i));
  for (std::int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int i = 0; i < kMultiplyAddChains; ++i) chains[i] = _mm512_fmadd_ps(chains[i], scale, shift);
  }
  float sum = 0.0f;
  for (int i = 0; i < kMultiplyAddChains; ++i) sum += _mm512_reduce_add_ps(chains[i]);
  return sum;
}

__attribute__((target("avx2,fma"), noinline)) inline float multiply_adds_avx2(std::int64_t rounds) {
  __m256 chains[kMultiplyAddChains];
  const __m256 scale = _mm256_set1_ps(0.999999f), shift = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < kMultiplyAddChains; ++i) chains[i] = _mm256_set1_ps(static_cast<float>(i));
  for (std::int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int i = 0; i < kMultiplyAddChains; ++i) chains[i] = _mm256_fmadd_ps(chains[i], scale, shift);
  }
  alignas(32) float lanes[8];
  float sum = 0.0f;
  for (int i = 0; i < kMultiplyAddChains; ++i) {
    _mm256_store_ps(lanes, chains[i]);
    for (const float lane : lanes) sum += lane;
  }
  return sum;
}

// x86-64's baseline, SSE2: a multiply and an add, two operations as well.
__attribute__((noinline)) inline float multiply_adds_sse2(std::int64_t rounds) {
  __m128 chains[kMultiplyAddChains];
  const __m128 scale = _mm_set1_ps(0.999999f), shift = _mm_set1_ps(1e-7f);
  for (int i = 0; i < kMultiplyAddChains; ++i) chains[i] = _mm_set1_ps(static_cast<float>(i));
  for (std::int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int i = 0; i < kMultiplyAddChains; ++i) chains[i] = _mm_add_ps(_mm_mul_ps(chains[i], scale), shift);
  }
  alignas(16) float lanes[4];
  float sum = 0.0f;
  for (int i = 0; i < kMultiplyAddChains; ++i) {
    _mm_store_ps(lanes, chains[i]);
    for (const float lane : lanes) sum += lane;
  }
  return sum;
}

// This core's float operations per second at its widest multiply-add, timed in calls of
// kRounds x kMultiplyAddChains vector multiply-adds.
class MultiplyAddPeak {
 public:
  MultiplyAddPeak() {
    if (__builtin_cpu_supports("avx512f")) {
      run_ = &multiply_adds_avx512;
      lanes_ = 16;
      instruction_set_ = "AVX-512";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      run_ = &multiply_adds_avx2;
      lanes_ = 8;
      instruction_set_ = "AVX2+FMA";
    } else {
      run_ = &multiply_adds_sse2;
      lanes_ = 4;
      instruction_set_ = "SSE2";
    }
  }

  const char* instruction_set() const { return instruction_set_; }
  double operations_per_call() const { return 2.0 * lanes_ * kMultiplyAddChains * kRounds; }

  // Per-call latencies in microseconds; the median gives the peak as operations_per_call() / median.
  std::vector<double> time_runs(double min_seconds, std::size_t min_calls) {
    return hepinfer::bench::time_calls([this] { sink_ = sink_ + run_(kRounds); }, min_seconds, min_calls, 20);
  }

 private:
  static constexpr std::int64_t kRounds = 2000;  // ~24 000 vector operations: ~5-20 µs a call
  float (*run_)(std::int64_t) = nullptr;
  int lanes_ = 0;
  const char* instruction_set_ = "";
  volatile float sink_ = 0.0f;  // stored to, so the compiler cannot drop the work
};

}  // namespace hepinfer::bench
