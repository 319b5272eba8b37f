// The time this host takes to read a model's weights once from its caches: a lower bound for any
// call that reads every weight (a dense model at batch 1 reads each weight once and does one
// multiply-add per weight, so memory, not arithmetic, bounds it). Benchmarks put it next to the
// backend they measure, so a ratio target can be judged against what the machine allows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "latency_stats.h"

namespace hepinfer::bench {

// Four independent 64-byte XOR accumulators: nothing but the loads limits the loop. Cloned per
// instruction set so that an AVX-512 host reads with 512-bit loads, as the compiled models do.
__attribute__((target_clones("avx512f", "avx2", "default"), noinline)) inline std::uint32_t xor_all(
    const std::uint32_t* words, std::size_t count) {
  typedef std::uint32_t Lanes __attribute__((vector_size(64)));
  Lanes a{}, b{}, c{}, d{};
  constexpr std::size_t kLanes = 16;
  std::size_t i = 0;
  for (; i + 4 * kLanes <= count; i += 4 * kLanes) {
    Lanes w, x, y, z;
    std::memcpy(&w, words + i, sizeof w);
    std::memcpy(&x, words + i + kLanes, sizeof x);
    std::memcpy(&y, words + i + 2 * kLanes, sizeof y);
    std::memcpy(&z, words + i + 3 * kLanes, sizeof z);
    a ^= w;
    b ^= x;
    c ^= y;
    d ^= z;
  }
  const Lanes all = a ^ b ^ c ^ d;
  std::uint32_t folded = 0;
  for (std::size_t lane = 0; lane < kLanes; ++lane) folded ^= all[lane];
  for (; i < count; ++i) folded ^= words[i];
  return folded;
}

// A buffer of `bytes` (rounded up to 256), filled once, and timed reads of all of it.
class WeightReadFloor {
 public:
  explicit WeightReadFloor(std::size_t bytes) : words_((bytes + 255) / 256 * 64) {
    for (std::size_t i = 0; i < words_.size(); ++i) words_[i] = static_cast<std::uint32_t>(i * 2654435761u);
  }
  std::size_t bytes() const { return words_.size() * sizeof(std::uint32_t); }

  std::vector<double> time_reads(double min_seconds, std::size_t min_calls) {
    return time_calls([this] { sink_ = sink_ ^ xor_all(words_.data(), words_.size()); }, min_seconds, min_calls, 20);
  }

 private:
  std::vector<std::uint32_t> words_;
  volatile std::uint32_t sink_ = 0;  // stored to, so the compiler cannot drop the reads
};

}  // namespace hepinfer::bench
