// The AOT backend against hepinfer's TensorFlow backend (inline threading, its fastest CPU mode) on
// the same model and inputs, one thread, measured in one process, interleaved. Writes JSON with
// medians, p99, throughput, the TF/AOT ratio per batch size, and the process's threads around the
// AOT model's load and runs (it must start none). With --weight-bytes (the model's weights, which
// report_aot.py counts with Python TF), it also times reading that many bytes once from this host's
// caches, interleaved with the runs: the floor under any batch-1 call of a model that reads each
// weight once. With --flops-per-row (a dense model's two operations per weight, also counted by
// report_aot.py), it times this core's peak rate of multiply-adds the same way: the floor under a
// call of that many operations per row, which above batch 1 is what bounds a dense model.
//
// usage: bench_aot SAVED_MODEL AOT_PACKAGE OUTPUT.json [--seconds S] [--batches 1,64] [--weight-bytes N]
//                  [--flops-per-row N]
// The package should be compiled from SAVED_MODEL with the benchmark's batch sizes among its own.

#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "hepinfer/aot/aot_model.h"
#include "hepinfer/core/example_inputs.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "compute_floor.h"
#include "latency_stats.h"
#include "nlohmann/json.hpp"
#include "process_threads.h"
#include "read_floor.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bench_aot SAVED_MODEL AOT_PACKAGE OUTPUT.json [--seconds S] [--batches 1,64] "
                 "[--weight-bytes N] [--flops-per-row N]\n";
    return 2;
  }
  const std::string saved_model = argv[1], package = argv[2], output = argv[3];
  double seconds = 2.0;
  std::vector<std::int64_t> batches{1, 64};
  std::size_t weight_bytes = 0;
  double flops_per_row = 0;
  const auto floor_option = [&](const std::string& option, const std::string& value) {
    if (option == "--weight-bytes") {
      weight_bytes = std::stoull(value);
    } else if (option == "--flops-per-row") {
      flops_per_row = std::stod(value);
    } else {
      return false;
    }
    return true;
  };
  if (!hepinfer::bench::parse_batch_options(argc, argv, 4, "bench_aot", seconds, batches, floor_option)) return 2;
  try {
    hepinfer::tf::set_log_level(hepinfer::tf::LogLevel::kError);
    const auto tf_model = hepinfer::tf::load_model(saved_model, {.threading = hepinfer::ThreadingMode::kInline});
    const int threads_before = hepinfer::bench::process_threads();
    const auto aot_model = hepinfer::aot::load_model(package);
    const int threads_after_load = hepinfer::bench::process_threads();

    std::unique_ptr<hepinfer::bench::WeightReadFloor> floor;
    if (weight_bytes > 0) floor = std::make_unique<hepinfer::bench::WeightReadFloor>(weight_bytes);
    hepinfer::bench::MultiplyAddPeak peak;
    nlohmann::json results = nlohmann::json::array();
    for (const std::int64_t batch : batches) {
      const auto inputs = hepinfer::example_inputs(aot_model->info(), batch, "bench", /*seed=*/12345);
      const std::size_t min_calls = batch >= 1024 ? 50 : 200;
      std::vector<double> tf_samples, aot_samples, floor_samples, peak_samples;
      for (int half = 0; half < 2; ++half) {  // interleaved, so that drifts in load hit all alike
        auto t = hepinfer::bench::time_calls([&] { tf_model->run(inputs, {}); }, seconds / 2, min_calls / 2, 20);
        auto a = hepinfer::bench::time_calls([&] { aot_model->run(inputs, {}); }, seconds / 2, min_calls / 2, 20);
        tf_samples.insert(tf_samples.end(), t.begin(), t.end());
        aot_samples.insert(aot_samples.end(), a.begin(), a.end());
        if (floor) {
          auto f = floor->time_reads(seconds / 4, min_calls / 2);
          floor_samples.insert(floor_samples.end(), f.begin(), f.end());
        }
        if (flops_per_row > 0) {
          auto p = peak.time_runs(seconds / 4, min_calls / 2);
          peak_samples.insert(peak_samples.end(), p.begin(), p.end());
        }
      }
      const auto tf_summary = hepinfer::bench::summarise(tf_samples);
      const auto aot_summary = hepinfer::bench::summarise(aot_samples);
      nlohmann::json result = {{"batch", batch},
                               {"tensorflow_backend_inline", hepinfer::bench::latency_json(tf_summary, batch)},
                               {"aot_backend", hepinfer::bench::latency_json(aot_summary, batch)},
                               {"median_ratio_tf_over_aot", tf_summary.p50_us / aot_summary.p50_us}};
      std::cout << "batch " << batch << ": TF backend median " << tf_summary.p50_us << " us, AOT backend "
                << aot_summary.p50_us << " us (x" << tf_summary.p50_us / aot_summary.p50_us << ")";
      if (floor) {
        const auto floor_summary = hepinfer::bench::summarise(floor_samples);
        result["weight_read_floor"] = {{"bytes", floor->bytes()},
                                       {"median_us", floor_summary.p50_us},
                                       {"gigabytes_per_second", floor->bytes() / floor_summary.p50_us / 1e3}};
        std::cout << "; reading the " << floor->bytes() << " bytes of weights once: " << floor_summary.p50_us
                  << " us";
      }
      if (flops_per_row > 0) {
        const double peak_gflops = peak.operations_per_call() / hepinfer::bench::summarise(peak_samples).p50_us / 1e3;
        const double flops = flops_per_row * static_cast<double>(batch);
        const double floor_us = flops / peak_gflops / 1e3;
        result["compute_floor"] = {{"flops", flops},
                                   {"peak_gflops", peak_gflops},
                                   {"instruction_set", peak.instruction_set()},
                                   {"median_us", floor_us}};
        std::cout << "; " << flops << " operations at this core's peak (" << peak_gflops << " GFLOP/s, "
                  << peak.instruction_set() << "): " << floor_us << " us";
      }
      std::cout << "\n";
      results.push_back(std::move(result));
    }
    const int threads_after_runs = hepinfer::bench::process_threads();
    const nlohmann::json report = {{"benchmark", "aot_vs_tensorflow_backend"},
                                   {"saved_model", saved_model},
                                   {"package", package},
                                   {"tensorflow", hepinfer::tf::runtime_version()},
                                   {"threads", {{"before_aot_load", threads_before},
                                                {"after_aot_load", threads_after_load},
                                                {"after_runs", threads_after_runs}}},
                                   {"results", results}};
    std::ofstream(output) << report.dump(2) << "\n";
    std::cout << "threads: " << threads_before << " before the AOT model, " << threads_after_load
              << " after loading it, " << threads_after_runs << " after the runs\n";
  } catch (const std::exception& error) {
    std::cerr << "bench_aot: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
