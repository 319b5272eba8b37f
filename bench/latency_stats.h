#pragma once
// Per-call latency samples and their summary, shared by the benchmark programs.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <vector>

namespace hepinfer::bench {

struct LatencySummary {
  double median_us = 0;
  double p99_us = 0;
  double mean_us = 0;
  double calls_per_second = 0;
  std::size_t calls = 0;
};

inline LatencySummary summarise(std::vector<double> samples_us) {
  LatencySummary summary;
  if (samples_us.empty()) return summary;
  std::sort(samples_us.begin(), samples_us.end());
  const auto at = [&](double quantile) {
    return samples_us[std::min(samples_us.size() - 1, static_cast<std::size_t>(quantile * static_cast<double>(samples_us.size())))];
  };
  summary.median_us = at(0.5);
  summary.p99_us = at(0.99);
  summary.mean_us = std::accumulate(samples_us.begin(), samples_us.end(), 0.0) / static_cast<double>(samples_us.size());
  summary.calls_per_second = 1e6 / summary.mean_us;
  summary.calls = samples_us.size();
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
