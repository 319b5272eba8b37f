// Dynamic batching and batch splitting on the MLP (32 -> 4x256 -> 8, frozen graph), all in one
// process:
//  1. 1-64 requesters, each sending batch-1 requests: unbatched (every requester runs the model
//     itself, inline) against a DynamicBatcher with max delay 0, 100 and 1000 µs. Throughput and
//     per-request latency; the floor compares with unbatched at 16 requesters.
//  2. One 100 000-row request through a SplittingModel whose memory budget allows 1 000 rows,
//     against 100 manual 1 000-row runs: equal outputs, and the time ratio.
// Writes JSON.
//
// usage: bench_batching MODELS_DIR OUTPUT.json [--seconds S]

#include <atomic>
#include <fstream>
#include <iostream>
#include <thread>

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "latency_stats.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using hepinfer::Model;
using hepinfer::Tensor;

struct Measurement {
  double requests_per_second = 0;
  hepinfer::bench::LatencySummary latency;
  double mean_batch_rows = 1;
};

// `requesters` threads each call `request` until the deadline.
template <class Request>
Measurement measure(int requesters, double seconds, Request request) {
  std::vector<std::vector<double>> latencies(requesters);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int r = 0; r < requesters; ++r) {
    threads.emplace_back([&, r] {
      while (Clock::now() < deadline) {
        const auto before = Clock::now();
        request();
        latencies[r].push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& per_requester : latencies) all.insert(all.end(), per_requester.begin(), per_requester.end());
  Measurement result;
  result.requests_per_second = static_cast<double>(all.size()) / wall;
  result.latency = hepinfer::bench::summarise(std::move(all));
  return result;
}

nlohmann::json to_json(const Measurement& m) {
  return {{"requests_per_second", m.requests_per_second},
          {"p50_us", m.latency.p50_us},
          {"p99_us", m.latency.p99_us},
          {"mean_batch_rows", m.mean_batch_rows}};
}

Tensor seeded(std::int64_t rows) {
  Tensor x(hepinfer::DType::kFloat32, hepinfer::Shape({rows, 32}));
  auto values = x.values<float>();
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 13) * 0.05f;
  return x;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

nlohmann::json split_benchmark(const std::shared_ptr<const Model>& mlp) {
  const hepinfer::MemoryModel memory = *mlp->info().memory;
  hepinfer::batching::SplittingModel split(mlp, {.memory_budget_bytes = memory.bytes_for(1000)});
  const Tensor x = seeded(100'000);
  std::vector<double> split_ms, manual_ms;
  bool equal = true;
  for (int round = 0; round < 5; ++round) {
    auto start = Clock::now();
    const Tensor whole = split.run({{"x", x}}, {"Identity"})[0];
    split_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    start = Clock::now();
    std::vector<Tensor> parts;
    for (std::int64_t begin = 0; begin < 100'000; begin += 1000) {
      parts.push_back(mlp->run({{"x", x.slice_rows(begin, begin + 1000)}}, {"Identity"})[0]);
    }
    const Tensor manual = hepinfer::concat_rows(parts);
    manual_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    const auto a = whole.values<float>(), b = manual.values<float>();
    equal = equal && whole.shape() == manual.shape() && std::equal(a.begin(), a.end(), b.begin());
  }
  const double ratio = median(split_ms) / median(manual_ms);
  return {{"rows", 100'000},
          {"batch_limit", split.batch_limit()},
          {"backend_runs_per_request", split.statistics().backend_runs / 5},
          {"split_median_ms", median(split_ms)},
          {"manual_median_ms", median(manual_ms)},
          {"time_ratio", ratio},
          {"outputs_bit_identical", equal},
          {"floor", {{"within", 0.10}, {"met", equal && ratio <= 1.10}}}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_batching MODELS_DIR OUTPUT.json [--seconds S]\n";
    return 2;
  }
  const std::string models = argv[1];
  double seconds = 1.0;
  if (argc >= 5 && std::string(argv[3]) == "--seconds") seconds = std::stod(argv[4]);
  hepinfer::tf::set_log_level(hepinfer::tf::LogLevel::kWarning);

  const std::shared_ptr<const Model> mlp =
      hepinfer::tf::load_model(models + "/mlp/frozen.pb", {.warmup_runs = 10, .warmup_batch_sizes = {1, 64},
                                                           .measure_memory = true});
  const Tensor one_row = seeded(1);
  const std::vector<hepinfer::NamedTensor> request{{"x", one_row}};
  const std::vector<std::string> outputs{"Identity"};

  const double single_latency_us = measure(1, seconds, [&] { mlp->run(request, outputs); }).latency.p50_us;
  nlohmann::json rows = nlohmann::json::array();
  for (int requesters : {1, 2, 4, 8, 16, 32, 64}) {
    nlohmann::json row = {{"requesters", requesters}};
    row["unbatched"] = to_json(measure(requesters, seconds, [&] { mlp->run(request, outputs); }));
    for (int delay_us : {0, 100, 1000}) {
      hepinfer::batching::DynamicBatcher batcher(
          mlp, {.max_batch_rows = 64, .max_delay = std::chrono::microseconds(delay_us)});
      Measurement batched = measure(requesters, seconds, [&] { batcher.run(request, outputs); });
      batched.mean_batch_rows = batcher.statistics().mean_batch_rows;
      row["batched_delay_" + std::to_string(delay_us) + "us"] = to_json(batched);
    }
    rows.push_back(row);
    std::cerr << "bench_batching: " << requesters << " requesters done\n";
  }

  // The floor: at 16 requesters, >= 3x the unbatched throughput with p99 <= delay + 3x the
  // single-request latency.
  nlohmann::json floors = nlohmann::json::object();
  for (const auto& row : rows) {
    if (row["requesters"] != 16) continue;
    const double unbatched = row["unbatched"]["requests_per_second"];
    for (int delay_us : {0, 100, 1000}) {
      const auto& batched = row["batched_delay_" + std::to_string(delay_us) + "us"];
      const double ratio = batched["requests_per_second"].get<double>() / unbatched;
      const double p99_bound = delay_us + 3 * single_latency_us;
      floors["delay_" + std::to_string(delay_us) + "us"] = {
          {"throughput_ratio", ratio}, {"p99_us", batched["p99_us"]}, {"p99_bound_us", p99_bound},
          {"met", ratio >= 3.0 && batched["p99_us"].get<double>() <= p99_bound}};
    }
  }

  nlohmann::json report = {{"tensorflow", hepinfer::tf::runtime_version()},
                           {"hardware_threads", std::thread::hardware_concurrency()},
                           {"seconds_per_measurement", seconds},
                           {"model", "mlp/frozen.pb, batch 1 per request, max_batch_rows 64"},
                           {"single_request_latency_us", single_latency_us},
                           {"requesters", rows},
                           {"floors_at_16_requesters", floors},
                           {"split_100k_rows", split_benchmark(mlp)}};
  std::ofstream(argv[2]) << report.dump(2) << "\n";
  std::cout << report.dump(2) << "\n";
  return 0;
}
