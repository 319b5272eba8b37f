#pragma once
// Latency percentiles, computed one way everywhere (the batcher's statistics, hepinfer bench and
// run, the benchmark programs): the nearest-rank percentile, the smallest sample with at least a
// fraction q of the samples at or below it.

#include <cstddef>
#include <vector>

namespace hepinfer {

struct LatencySummary {
  std::size_t count = 0;
  double mean_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

// All zero for no samples.
LatencySummary summarise_latencies(std::vector<double> samples_us);

// The nearest-rank `quantile` (0 < quantile <= 1) of `samples`; 0 for no samples.
double percentile(std::vector<double> samples, double quantile);

}  // namespace hepinfer
