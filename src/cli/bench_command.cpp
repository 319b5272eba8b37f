// `hepinfer bench MODEL [--requesters N] [--rows R] [--seconds S] [--batching] ...`: concurrent
// requesters send requests of R rows (seeded inputs for the default signature) for S seconds,
// directly or through a DynamicBatcher; prints throughput, latency and the batcher's statistics.

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <thread>

#include "commands.h"
#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/example_inputs.h"
#include "hepinfer/core/latency.h"
#include "model_loader.h"
#include "nlohmann/json.hpp"

namespace hepinfer::cli {
namespace {

using Clock = std::chrono::steady_clock;

nlohmann::json latency_json(const batching::LatencySummary& summary) {
  return {{"p50_us", summary.p50_us}, {"p90_us", summary.p90_us}, {"p99_us", summary.p99_us}, {"max_us", summary.max_us}};
}

}  // namespace

void add_bench_command(CLI::App& app) {
  struct Options {
    std::string model;
    LoadOptions open;
    GpuRequest gpu;
    int requesters = 1;
    std::int64_t rows = 1;
    double seconds = 2;
    bool batching = false;
    std::int64_t max_batch = 64;
    std::int64_t max_delay_us = 100;
    int in_flight = 1;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("bench", "Concurrent requesters against a model, with or without dynamic batching");
  command->add_option("model", options->model, kModelArgumentHelp)->required();
  command->add_option("--requesters", options->requesters, "Concurrent requesting threads (default 1)")
      ->check(CLI::Range(1, 1024));
  command->add_option("--rows", options->rows, "Rows per request (default 1)")->check(CLI::PositiveNumber);
  command->add_option("--seconds", options->seconds, "How long to run (default 2)")->check(CLI::PositiveNumber);
  command->add_flag("--batching", options->batching, "Send requests through a dynamic batcher");
  command->add_option("--max-batch", options->max_batch, "Batcher: most rows per run (default 64)")
      ->check(CLI::PositiveNumber);
  command->add_option("--max-delay-us", options->max_delay_us, "Batcher: longest wait for more requests (default 100)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--batches-in-flight", options->in_flight,
                      "Batcher: backend runs at once, to overlap a remote or GPU model's round trips (default 1)")
      ->check(CLI::Range(1, 64));
  add_threading_option(*command, options->open.threading);
  add_gpu_options(*command, options->gpu);
  add_op_policy_options(*command, options->open);
  command->add_flag("--json", options->json, "Print JSON instead of text");
  command->callback([options] {
    options->open.warmup_runs = 3;
    options->open.warmup_batch_sizes = {options->rows};
    place_on_requested_gpu(options->gpu, options->open);
    std::shared_ptr<const Model> model = open_model(options->model, options->open);
    std::shared_ptr<batching::DynamicBatcher> batcher;
    if (options->batching) {
      batcher = std::make_shared<batching::DynamicBatcher>(
          model, batching::BatcherOptions{.max_batch_rows = options->max_batch,
                                          .max_delay = std::chrono::microseconds(options->max_delay_us),
                                          .batches_in_flight = options->in_flight});
    }
    const Model& target = batcher ? static_cast<const Model&>(*batcher) : *model;
    const std::vector<NamedTensor> request = example_inputs(model->info(), options->rows, "bench", /*seed=*/12345);

    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(options->requesters));
    std::vector<std::string> errors(latencies.size());
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration<double>(options->seconds);
    std::vector<std::thread> threads;
    for (std::size_t r = 0; r < latencies.size(); ++r) {
      threads.emplace_back([&, r] {
        try {
          while (Clock::now() < deadline) {
            const auto before = Clock::now();
            target.run(request, {});
            latencies[r].push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
          }
        } catch (const std::exception& error) {
          errors[r] = error.what();
        }
      });
    }
    for (auto& thread : threads) thread.join();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    for (const std::string& error : errors) {
      if (!error.empty()) throw BackendError("a request failed: " + error);
    }
    std::vector<double> all;
    for (const auto& per_requester : latencies) all.insert(all.end(), per_requester.begin(), per_requester.end());
    const LatencySummary latency = summarise_latencies(all);
    const double requests_per_second = static_cast<double>(all.size()) / wall;

    nlohmann::json report = {{"model", model->info().path},
                             {"device", model->info().device},
                             {"placement_note", model->info().placement_note},
                             {"requesters", options->requesters},
                             {"rows_per_request", options->rows},
                             {"seconds", wall},
                             {"requests", all.size()},
                             {"requests_per_second", requests_per_second},
                             {"rows_per_second", requests_per_second * static_cast<double>(options->rows)},
                             {"latency_us", {{"p50", latency.p50_us}, {"p99", latency.p99_us}}}};
    if (batcher) {
      const batching::BatcherStatistics statistics = batcher->statistics();
      report["batcher"] = {{"max_batch_rows", options->max_batch},
                           {"max_delay_us", options->max_delay_us},
                           {"batches_in_flight", options->in_flight},
                           {"requests", statistics.requests},
                           {"rows", statistics.rows},
                           {"executions", statistics.executions},
                           {"failed_requests", statistics.failed_requests},
                           {"mean_batch_rows", statistics.mean_batch_rows},
                           {"queue_delay", latency_json(statistics.queue_delay)},
                           {"execution", latency_json(statistics.execution)}};
    }
    if (options->json) {
      std::cout << report.dump(2) << "\n";
      return;
    }
    std::cout << std::fixed << std::setprecision(0) << model->info().path << " on "
              << (model->info().device.empty() ? "the backend's default device" : model->info().device) << ": "
              << options->requesters
              << " requester(s) x " << options->rows << " row(s), " << std::setprecision(1) << wall << " s\n"
              << std::setprecision(0) << "  " << requests_per_second << " requests/s, "
              << requests_per_second * static_cast<double>(options->rows) << " rows/s; latency p50 "
              << latency.p50_us << " us, p99 " << latency.p99_us << " us\n";
    if (batcher) {
      const auto& b = report["batcher"];
      std::cout << "  batcher (limit " << options->max_batch << " rows, delay " << options->max_delay_us << " us, "
                << options->in_flight << " in flight): " << b["requests"].get<std::int64_t>() << " requests, "
                << b["rows"].get<std::int64_t>()
                << " rows, " << b["executions"].get<std::int64_t>() << " runs, mean batch " << std::setprecision(1)
                << b["mean_batch_rows"].get<double>() << std::setprecision(0) << " rows\n"
                << "  queue delay p50/p99 " << b["queue_delay"]["p50_us"].get<double>() << " / "
                << b["queue_delay"]["p99_us"].get<double>() << " us; run p50/p99 "
                << b["execution"]["p50_us"].get<double>() << " / " << b["execution"]["p99_us"].get<double>()
                << " us\n";
    }
  });
}

}  // namespace hepinfer::cli
