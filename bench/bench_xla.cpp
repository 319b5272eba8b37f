// The XLA backend (PJRT CPU plugin) against hepinfer's TensorFlow backend (inline threading) on the
// same model and inputs, measured in one process, interleaved. Writes JSON with medians, p99,
// throughput, the XLA/TF ratio per batch size, and the process's threads before and after the
// XLA model was loaded (the plugin's own threads).
//
// usage: bench_xla SAVED_MODEL XLA_ARTIFACT OUTPUT.json [--seconds S] [--batches 1,64,1024]
// The artifact must be compiled from SAVED_MODEL (hepinfer compile ... --batch-sizes = the batches).

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "hepinfer/core/example_inputs.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "hepinfer/xla/xla_model.h"
#include "latency_stats.h"
#include "process_threads.h"
#include "nlohmann/json.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bench_xla SAVED_MODEL XLA_ARTIFACT OUTPUT.json [--seconds S] [--batches 1,64,1024]\n";
    return 2;
  }
  const std::string saved_model = argv[1], artifact = argv[2], output = argv[3];
  double seconds = 2.0;
  std::vector<std::int64_t> batches{1, 64, 1024};
  if (!hepinfer::bench::parse_batch_options(argc, argv, 4, "bench_xla", seconds, batches)) return 2;
  try {
    hepinfer::tf::set_log_level(hepinfer::tf::LogLevel::kError);
    const auto tf_model = hepinfer::tf::load_model(saved_model);
    const int threads_before = hepinfer::bench::process_threads();
    const auto xla_model = hepinfer::xla::load_model(artifact);
    const int threads_after_load = hepinfer::bench::process_threads();

    nlohmann::json results = nlohmann::json::array();
    for (const std::int64_t batch : batches) {
      const auto inputs = hepinfer::example_inputs(xla_model->info(), batch, "bench", /*seed=*/12345);
      const std::size_t min_calls = batch >= 1024 ? 50 : 200;
      std::vector<double> tf_samples, xla_samples;
      for (int half = 0; half < 2; ++half) {  // interleaved, so that drifts in load hit both alike
        auto t = hepinfer::bench::time_calls([&] { tf_model->run(inputs, {}); }, seconds / 2, min_calls / 2, 20);
        auto x = hepinfer::bench::time_calls([&] { xla_model->run(inputs, {}); }, seconds / 2, min_calls / 2, 20);
        tf_samples.insert(tf_samples.end(), t.begin(), t.end());
        xla_samples.insert(xla_samples.end(), x.begin(), x.end());
      }
      const auto tf_summary = hepinfer::bench::summarise(tf_samples);
      const auto xla_summary = hepinfer::bench::summarise(xla_samples);
      results.push_back({{"batch", batch},
                         {"tensorflow_backend_inline", hepinfer::bench::latency_json(tf_summary, batch)},
                         {"xla_backend_cpu_plugin", hepinfer::bench::latency_json(xla_summary, batch)},
                         {"median_ratio_tf_over_xla", tf_summary.p50_us / xla_summary.p50_us}});
      std::cout << "batch " << batch << ": TF backend median " << tf_summary.p50_us << " us, XLA backend "
                << xla_summary.p50_us << " us (x" << tf_summary.p50_us / xla_summary.p50_us << ")\n";
    }
    const nlohmann::json report = {{"benchmark", "xla_vs_tensorflow_backend"},
                                   {"saved_model", saved_model},
                                   {"artifact", artifact},
                                   {"tensorflow", hepinfer::tf::runtime_version()},
                                   {"threads", {{"before_xla_load", threads_before},
                                                {"after_xla_load", threads_after_load},
                                                {"after_runs", hepinfer::bench::process_threads()}}},
                                   {"results", results}};
    std::ofstream(output) << report.dump(2) << "\n";
    std::cout << "threads: " << threads_before << " before the XLA model, " << threads_after_load << " after loading it, "
              << hepinfer::bench::process_threads() << " after the runs\n";
  } catch (const std::exception& error) {
    std::cerr << "bench_xla: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
