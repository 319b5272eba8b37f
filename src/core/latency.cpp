#include "hepinfer/core/latency.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hepinfer {
namespace {

// `sorted` is sorted and not empty.
double nearest_rank(const std::vector<double>& sorted, double quantile) {
  const double rank = std::ceil(quantile * static_cast<double>(sorted.size()));
  const auto index = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(sorted.size()))) - 1;
  return sorted[index];
}

}  // namespace

LatencySummary summarise_latencies(std::vector<double> samples_us) {
  LatencySummary summary;
  if (samples_us.empty()) return summary;
  std::sort(samples_us.begin(), samples_us.end());
  summary.count = samples_us.size();
  summary.mean_us = std::accumulate(samples_us.begin(), samples_us.end(), 0.0) / static_cast<double>(samples_us.size());
  summary.p50_us = nearest_rank(samples_us, 0.50);
  summary.p90_us = nearest_rank(samples_us, 0.90);
  summary.p99_us = nearest_rank(samples_us, 0.99);
  summary.max_us = samples_us.back();
  return summary;
}

double percentile(std::vector<double> samples, double quantile) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  return nearest_rank(samples, quantile);
}

}  // namespace hepinfer
