#pragma once
// Per-call latency samples and their summary, shared by the benchmark programs.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "hepinfer/core/latency.h"

namespace hepinfer::bench {

// The core summary (nearest-rank percentiles, as everywhere in hepinfer) plus calls per second
// of one caller.
struct LatencySummary : hepinfer::LatencySummary {
  double calls_per_second = 0;
};

inline LatencySummary summarise(std::vector<double> samples_us) {
  LatencySummary summary{summarise_latencies(std::move(samples_us))};
  if (summary.mean_us > 0) summary.calls_per_second = 1e6 / summary.mean_us;
  return summary;
}

// Calls `call` for at least `min_seconds` (and `min_calls` times), after `warmup` untimed calls,
// and returns each call's latency in microseconds.
template <class Call>
std::vector<double> time_calls(Call&& call, double min_seconds, std::size_t min_calls, std::size_t warmup) {
  using Clock = std::chrono::steady_clock;
  for (std::size_t i = 0; i < warmup; ++i) call();
  std::vector<double> samples;
  const auto start = Clock::now();
  while (samples.size() < min_calls || std::chrono::duration<double>(Clock::now() - start).count() < min_seconds) {
    const auto before = Clock::now();
    call();
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
  }
  return samples;
}

}  // namespace hepinfer::bench
