#pragma once
// Per-call latency samples and their summary, shared by the benchmark programs.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "hepinfer/core/latency.h"
#include "nlohmann/json.hpp"

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

// One measurement at `batch` rows per call, as the JSON reports write it.
inline nlohmann::json latency_json(const LatencySummary& summary, std::int64_t batch) {
  return {{"median_us", summary.p50_us},
          {"p99_us", summary.p99_us},
          {"mean_us", summary.mean_us},
          {"calls", summary.count},
          {"inferences_per_second", summary.calls_per_second * static_cast<double>(batch)}};
}

// The options of the per-batch benchmarks after their positional arguments, from argv[first]:
// --seconds S and --batches 1,64,1024, and any option `other` takes (it returns whether it did).
// False (with a message naming `program`) for anything else.
inline bool parse_batch_options(
    int argc, char** argv, int first, const char* program, double& seconds, std::vector<std::int64_t>& batches,
    const std::function<bool(const std::string& option, const std::string& value)>& other = {}) {
  if ((argc - first) % 2 != 0) {
    std::cerr << program << ": option " << argv[argc - 1] << " needs a value\n";
    return false;
  }
  for (int i = first; i + 1 < argc; i += 2) {
    const std::string option = argv[i];
    if (other && other(option, argv[i + 1])) continue;
    if (option == "--seconds") {
      seconds = std::stod(argv[i + 1]);
    } else if (option == "--batches") {
      batches.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) batches.push_back(std::stoll(item));
    } else {
      std::cerr << program << ": unknown option " << option << "\n";
      return false;
    }
  }
  return true;
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
