// The XLA backend on a GPU, against the PJRT CPU plugin on the same host as the baseline measured
// in the same run: what docs/gpu-validation.md records for issue 15. Needs no TensorFlow, so it
// runs on the GPU machines (scripts/gpu_kit.sh carries it with the artifacts and references that
// tools/make_gpu_kit_models.py made here). On a machine without a GPU every GPU part says why it
// was skipped and the CPU parts still run, so the program is tested where it is built.
//
// usage: bench_xla_gpu KIT_MODELS_DIR OUTPUT.json [--seconds S]
//
// Parts (JSON keys):
//   agreement  every carried case on the GPU (the artifacts' pinned-host variants, then their plain
//              programs) and on the CPU plugin against Python TF's outputs
//   latency    MLP per-call latency and throughput at batch 1..4096, GPU (pinned-host variants,
//              then plain programs) vs CPU plugin (one caller; then at the largest batch one
//              caller per core on the CPU plugin, four on the GPU)
//   latency_tf32  the same on the GPU with TF32 products allowed (mlp_tf32.xla)
//   latency_parameters  the same at batch 1, 64 and 4096 with the weights fed as parameters
//              (mlp_parameters.xla), on the GPU, else the CPU plugin
//   caps       two modules with different memory caps on one GPU running a model with 4 MiB of
//              output a row: the batch sizes each keeps under its cap (compiler's figures), the
//              allocator's limit and peak of each, the driver's free memory while both run,
//              out-of-memory splits
//   batcher    16 and 64 requesters of one row: direct calls, and the dynamic batcher with a
//              delay of 200 us and of 0 (each batch takes what queued during the previous run),
//              and with a delay of 0 and two batches in flight

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/batching/splitting_model.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/example_inputs.h"
#include "hepinfer/core/npy.h"
#include "hepinfer/scheduler/gpu_discovery.h"
#include "hepinfer/xla/xla_model.h"
#include "latency_stats.h"
#include "process_threads.h"
#include "nlohmann/json.hpp"

namespace {

namespace fs = std::filesystem;
using hepinfer::Model;
using hepinfer::NamedTensor;
using hepinfer::Tensor;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMiB = 1024 * 1024;

// Where a model is loaded: the CPU plugin, or GPU `gpu` capped at `cap_mib`, running the
// artifacts' pinned-host variants (the kit compiles them with --pinned-host-io) or, with
// kOff, their plain programs.
struct Target {
  std::string name;  // "gpu", "gpu plain I/O" or "cpu"
  std::optional<int> gpu;
  std::int64_t cap_mib = 0;
  hepinfer::xla::PinnedHostIo pinned_host_io = hepinfer::xla::PinnedHostIo::kOnGpus;

  hepinfer::xla::XlaOptions xla_options() const { return {.pinned_host_io = pinned_host_io}; }

  hepinfer::LoadOptions options(const std::string& module) const {
    hepinfer::LoadOptions options{.warmup_runs = 1};
    if (gpu) options.placement = hepinfer::Placement{.module = module, .devices = {*gpu}, .memory_mib = {cap_mib}};
    return options;
  }
};

// The largest |got - want| / (1 + |want|) over all elements, as a double; infinity for a shape or
// dtype mismatch.
double difference(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || got.shape() != want.shape()) return INFINITY;
  double largest = 0;
  auto widened = []<class T>(T value) {
    if constexpr (std::is_same_v<T, hepinfer::Float16>) {
      return static_cast<double>(value.to_float());
    } else {
      return static_cast<double>(value);
    }
  };
  hepinfer::visit_dtype(got.dtype(), [&]<class T>() {
    const auto a = got.values<T>();
    const auto b = want.values<T>();
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double x = widened(a[i]), y = widened(b[i]);
      if (std::isnan(x) || std::isnan(y)) {  // NaN agrees with NaN alone (std::max would drop it)
        if (std::isnan(x) != std::isnan(y)) largest = INFINITY;
        continue;
      }
      if (x == y) continue;  // equal infinities
      largest = std::max(largest, std::abs(x - y) / (1.0 + std::abs(y)));
    }
  });
  return largest;
}

nlohmann::json agreement(const fs::path& kit, const std::vector<Target>& targets) {
  const nlohmann::json cases = nlohmann::json::parse(std::ifstream(kit / "agreement.json")).at("cases");
  nlohmann::json results = nlohmann::json::array();
  for (const Target& target : targets) {
    std::map<std::string, std::shared_ptr<const Model>> models;
    int passed = 0, failed = 0;
    for (const nlohmann::json& test_case : cases) {
      const std::string artifact = test_case.at("artifact");
      nlohmann::json result = {{"case", test_case.at("name")}, {"target", target.name}};
      try {
        auto& model = models[artifact];
        if (!model) model = hepinfer::xla::load_model(kit / artifact, target.options("agreement"), target.xla_options());
        result["device"] = model->info().device;
        std::vector<NamedTensor> inputs;
        for (const auto& [name, file] : test_case.at("inputs").items()) {
          inputs.push_back({name, hepinfer::read_npy(kit / file.get<std::string>())});
        }
        std::vector<std::string> names;
        std::vector<Tensor> wanted;
        for (const auto& [name, file] : test_case.at("outputs").items()) {
          names.push_back(name);
          wanted.push_back(hepinfer::read_npy(kit / file.get<std::string>()));
        }
        const std::vector<Tensor> got = model->run(inputs, names);
        double largest = 0;
        for (std::size_t i = 0; i < got.size(); ++i) largest = std::max(largest, difference(got[i], wanted[i]));
        const double tolerance = test_case.at("tolerance");
        result["max_difference"] = largest;
        result["ok"] = largest <= tolerance;
      } catch (const std::exception& error) {
        result["ok"] = false;
        result["error"] = error.what();
      }
      (result["ok"].get<bool>() ? passed : failed) += 1;
      results.push_back(result);
    }
    std::cout << "agreement on " << target.name << ": " << passed << " of " << passed + failed
              << " cases within tolerance of Python TF\n";
  }
  return results;
}

nlohmann::json latency(const fs::path& kit, const std::string& artifact, const std::vector<std::int64_t>& batches,
                       const std::vector<Target>& targets, double seconds) {
  nlohmann::json results = nlohmann::json::array();
  for (const Target& target : targets) {
    std::shared_ptr<const Model> model;
    try {
      model = hepinfer::xla::load_model(kit / artifact, target.options("latency"), target.xla_options());
    } catch (const std::exception& error) {  // the other target is still measured
      results.push_back({{"target", target.name}, {"error", error.what()}});
      std::cout << "latency " << target.name << ": " << error.what() << "\n";
      continue;
    }
    if (const auto report = hepinfer::xla::load_report(*model); report->pinned_host_variants > 0) {
      std::cout << "latency " << artifact << " " << target.name << ": " << report->pinned_host_programs << " of "
                << report->programs << " programs with pinned-host I/O"
                << (report->pinned_host_note.empty() ? "" : "; " + report->pinned_host_note)
                << (report->pinned_host_outputs_copied.empty()
                        ? ""
                        : "; outputs copied, not read in place: " + report->pinned_host_outputs_copied)
                << "\n";
    }
    for (const std::int64_t batch : batches) {
      const auto inputs = hepinfer::example_inputs(model->info(), batch, "bench", /*seed=*/12345);
      const auto summary = hepinfer::bench::summarise(
          hepinfer::bench::time_calls([&] { model->run(inputs, {}); }, seconds, batch >= 512 ? 20 : 100, 10));
      nlohmann::json row = hepinfer::bench::latency_json(summary, batch);
      row["target"] = target.name;
      row["artifact"] = artifact;
      row["device"] = model->info().device;
      row["batch"] = batch;
      row["callers"] = 1;
      row["pinned_host_programs"] = hepinfer::xla::load_report(*model)->pinned_host_programs;
      row["pinned_host_outputs_copied"] = hepinfer::xla::load_report(*model)->pinned_host_outputs_copied;
      results.push_back(row);
      std::cout << "latency " << artifact << " " << target.name << " batch " << batch << ": median "
                << summary.p50_us << " us, " << static_cast<std::int64_t>(row["inferences_per_second"].get<double>())
                << " rows/s\n";
    }
    // Several callers at the largest batch: one per core on the CPU plugin (the CPU's throughput),
    // four on the GPU (copies and runs of different callers overlap).
    const std::int64_t batch = batches.back();
    const unsigned callers = target.gpu ? 4u : std::max(1u, std::thread::hardware_concurrency());
    const auto inputs = hepinfer::example_inputs(model->info(), batch, "bench", 12345);
    std::vector<std::int64_t> calls(callers, 0);
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (unsigned c = 0; c < callers; ++c) {
      threads.emplace_back([&, c] {
        while (Clock::now() < deadline) {
          model->run(inputs, {});
          ++calls[c];
        }
      });
    }
    for (auto& thread : threads) thread.join();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    std::int64_t total = 0;
    for (const std::int64_t c : calls) total += c;
    const double rows_per_second = static_cast<double>(total * batch) / wall;
    results.push_back({{"target", target.name}, {"artifact", artifact}, {"device", model->info().device},
                       {"batch", batch}, {"callers", callers}, {"inferences_per_second", rows_per_second}});
    std::cout << "latency " << artifact << " " << target.name << " batch " << batch << ", " << callers
              << " callers: " << static_cast<std::int64_t>(rows_per_second) << " rows/s\n";
  }
  return results;
}

// The driver's free memory on `gpu` in MiB (a CUDA context of its own for the query).
std::int64_t free_mib(int gpu) {
  for (const auto& device : hepinfer::scheduler::discover_gpus().inventory.gpus) {
    if (device.id == gpu) return device.free_mib;
  }
  return -1;
}

nlohmann::json caps(const fs::path& kit, int gpu, double seconds) {
  nlohmann::json result = {{"gpu", gpu}, {"free_mib_before", free_mib(gpu)}};
  const std::vector<std::int64_t> cap_mib{256, 1024};
  std::vector<std::shared_ptr<const Model>> models;
  std::vector<std::shared_ptr<const hepinfer::batching::SplittingModel>> splitters;
  for (std::size_t m = 0; m < cap_mib.size(); ++m) {
    const Target target{.name = "gpu", .gpu = gpu, .cap_mib = cap_mib[m]};
    models.push_back(hepinfer::xla::load_model(kit / "fanout.xla", target.options("capped_" + std::to_string(m))));
    splitters.push_back(std::make_shared<hepinfer::batching::SplittingModel>(
        models.back(), hepinfer::batching::SplitOptions{.on_out_of_memory = [](const std::string& message) {
          std::cout << "  out of memory, split: " << message << "\n";
        }}));
  }
  result["free_mib_after_load"] = free_mib(gpu);
  // 64 rows of 4 MiB of output each: 256 MiB a run, over the smaller cap.
  const auto inputs = hepinfer::example_inputs(models[0]->info(), 64, "caps", 7);
  const auto cpu_model = hepinfer::xla::load_model(kit / "fanout.xla");
  const std::vector<Tensor> expected = cpu_model->run(inputs, {});
  std::vector<std::string> errors(models.size());
  std::vector<double> differences(models.size(), 0);
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (std::size_t m = 0; m < models.size(); ++m) {
    threads.emplace_back([&, m] {
      try {
        while (Clock::now() < deadline) {
          const std::vector<Tensor> got = splitters[m]->run(inputs, {});
          differences[m] = std::max(differences[m], difference(got[0], expected[0]));
        }
      } catch (const std::exception& error) {
        errors[m] = error.what();
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 2));
  result["free_mib_while_running"] = free_mib(gpu);
  for (auto& thread : threads) thread.join();
  nlohmann::json modules = nlohmann::json::array();
  for (std::size_t m = 0; m < models.size(); ++m) {
    const auto stats = hepinfer::xla::device_memory(*models[m]);
    const auto split = splitters[m]->statistics();
    nlohmann::json module = {{"cap_mib", cap_mib[m]},
                             {"device", models[m]->info().device},
                             {"runs", split.runs},
                             {"backend_runs", split.backend_runs},
                             {"out_of_memory_retries", split.out_of_memory_retries},
                             {"batch_limit", split.batch_limit},
                             {"max_difference_vs_cpu", differences[m]},
                             {"error", errors[m]}};
    const hepinfer::xla::XlaLoadReport report = *hepinfer::xla::load_report(*models[m]);
    module["run_memory_limit_mib"] = static_cast<double>(report.run_memory_limit_bytes) / kMiB;
    module["batches"] = nlohmann::json::array();
    for (const hepinfer::xla::CompiledBatchReport& batch : report.batches) {
      const double run_mib = batch.memory ? static_cast<double>(batch.memory->run_bytes()) / kMiB : -1;
      module["batches"].push_back({{"rows", batch.rows}, {"used", batch.used}, {"run_mib", run_mib}});
    }
    if (stats) {
      module["bytes_in_use"] = stats->bytes_in_use;
      if (stats->bytes_limit) module["limit_mib"] = static_cast<double>(*stats->bytes_limit) / kMiB;
      if (stats->peak_bytes_in_use) module["peak_mib"] = static_cast<double>(*stats->peak_bytes_in_use) / kMiB;
      module["within_cap"] = stats->peak_bytes_in_use && *stats->peak_bytes_in_use <= cap_mib[m] * kMiB;
    }
    std::cout << "cap " << cap_mib[m] << " MiB: " << module.dump() << "\n";
    modules.push_back(module);
  }
  result["modules"] = modules;
  std::cout << "free MiB before / after load / while both run: " << result["free_mib_before"] << " / "
            << result["free_mib_after_load"] << " / " << result["free_mib_while_running"] << "\n";
  return result;
}

nlohmann::json batcher(const fs::path& kit, const Target& target, double seconds) {
  const std::shared_ptr<const Model> model =
      hepinfer::xla::load_model(kit / "mlp.xla", target.options("batcher"), target.xla_options());
  const auto request = hepinfer::example_inputs(model->info(), 1, "bench", 12345);
  const auto single = hepinfer::bench::summarise(
      hepinfer::bench::time_calls([&] { model->run(request, {}); }, seconds / 2, 100, 20));
  nlohmann::json result = {{"target", target.name},
                           {"device", model->info().device},
                           {"single_request_p50_us", single.p50_us},
                           {"runs", nlohmann::json::array()}};
  // Direct calls, then the batcher waiting up to 200 us for a batch to fill, then waiting not at
  // all (each batch takes what queued while the previous one ran), then that with two batches in
  // flight (a request arriving during a run need not wait for it to end).
  struct Mode {
    std::optional<std::chrono::microseconds> delay;  // none: direct calls
    int in_flight = 1;
  };
  const std::vector<Mode> modes{{std::nullopt},
                                {std::chrono::microseconds(200)},
                                {std::chrono::microseconds(0)},
                                {std::chrono::microseconds(0), 2}};
  for (const int requesters : {16, 64}) {
    for (const auto& [delay, in_flight] : modes) {
      std::shared_ptr<hepinfer::batching::DynamicBatcher> dynamic;
      if (delay) {
        dynamic = std::make_shared<hepinfer::batching::DynamicBatcher>(
            model, hepinfer::batching::BatcherOptions{
                       .max_batch_rows = 64, .max_delay = *delay, .batches_in_flight = in_flight});
      }
      const Model& target_model = dynamic ? static_cast<const Model&>(*dynamic) : *model;
      std::vector<std::vector<double>> samples(static_cast<std::size_t>(requesters));
      const auto start = Clock::now();
      const auto deadline = start + std::chrono::duration<double>(seconds);
      std::vector<std::thread> threads;
      for (int r = 0; r < requesters; ++r) {
        threads.emplace_back([&, r] {
          while (Clock::now() < deadline) {
            const auto before = Clock::now();
            target_model.run(request, {});
            samples[r].push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
          }
        });
      }
      for (auto& thread : threads) thread.join();
      const double wall = std::chrono::duration<double>(Clock::now() - start).count();
      std::vector<double> all;
      for (const auto& s : samples) all.insert(all.end(), s.begin(), s.end());
      const auto summary = hepinfer::bench::summarise(all);
      const double per_second = static_cast<double>(all.size()) / wall;
      nlohmann::json run = {{"requesters", requesters},
                            {"batcher", delay.has_value()},
                            {"requests_per_second", per_second},
                            {"p50_us", summary.p50_us},
                            {"p99_us", summary.p99_us}};
      if (delay) {
        run["max_delay_us"] = delay->count();
        run["batches_in_flight"] = in_flight;
        run["p99_bound_us"] = static_cast<double>(delay->count()) + 3 * single.p50_us;
        // Where a request's time goes: waiting for its batch to start, the batch's run, and the
        // rest (cutting the outputs, waking the requester), which is what p50 minus both leaves.
        const auto statistics = dynamic->statistics();
        run["mean_batch_rows"] = statistics.mean_batch_rows;
        run["queue_delay_us"] = {{"p50", statistics.queue_delay.p50_us}, {"p99", statistics.queue_delay.p99_us}};
        run["execution_us"] = {{"p50", statistics.execution.p50_us}, {"p99", statistics.execution.p99_us}};
      }
      result["runs"].push_back(run);
      std::cout << "batcher " << target.name << " " << requesters << " requesters "
                << (delay ? "batched, delay " + std::to_string(delay->count()) + " us, " + std::to_string(in_flight) +
                                " in flight"
                          : std::string("direct"))
                << ": "
                << static_cast<std::int64_t>(per_second) << " requests/s, p50 " << summary.p50_us << " us, p99 "
                << summary.p99_us << " us";
      if (delay) {
        std::cout << "; queue delay p50/p99 " << run["queue_delay_us"]["p50"] << "/" << run["queue_delay_us"]["p99"]
                  << " us, batch run p50/p99 " << run["execution_us"]["p50"] << "/" << run["execution_us"]["p99"]
                  << " us, mean batch " << run["mean_batch_rows"] << " rows";
      }
      std::cout << "\n";
    }
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_xla_gpu KIT_MODELS_DIR OUTPUT.json [--seconds S]\n";
    return 2;
  }
  const fs::path kit = argv[1];
  const std::string output = argv[2];
  double seconds = 2.0;
  std::vector<std::int64_t> unused;
  if (!hepinfer::bench::parse_batch_options(argc, argv, 3, "bench_xla_gpu", seconds, unused)) return 2;
  nlohmann::json report;
  // Each part records its own failure and the report is rewritten after each, so one GPU part
  // failing (or the run being cut off) still leaves every other figure.
  int failed_parts = 0;
  const auto part = [&](const std::string& name, const std::function<nlohmann::json()>& measure) {
    try {
      report[name] = measure();
    } catch (const std::exception& error) {
      ++failed_parts;
      report[name] = {{"error", error.what()}};
      std::cerr << "bench_xla_gpu: " << name << ": " << error.what() << "\n";
    }
    std::ofstream(output) << report.dump(2) << "\n";
  };
  try {
    const int threads_at_start = hepinfer::bench::process_threads();
    const auto discovery = hepinfer::scheduler::discover_gpus();
    report["gpus"] = nlohmann::json::array();
    for (const auto& gpu : discovery.inventory.gpus) {
      report["gpus"].push_back({{"id", gpu.id}, {"name", gpu.name}, {"total_mib", gpu.total_mib}, {"free_mib", gpu.free_mib}});
    }
    report["cuda_plugin"] = hepinfer::xla::cuda_plugin_path().string();
    report["cpu_plugin"] = hepinfer::xla::cpu_plugin_path().string();
    report["host_cores"] = std::thread::hardware_concurrency();
    std::vector<Target> targets;
    if (!discovery.inventory.gpus.empty()) {
      targets.push_back({.name = "gpu", .gpu = discovery.inventory.gpus.front().id, .cap_mib = 4096});
      targets.push_back({.name = "gpu plain I/O",
                         .gpu = discovery.inventory.gpus.front().id,
                         .cap_mib = 4096,
                         .pinned_host_io = hepinfer::xla::PinnedHostIo::kOff});
    } else {
      report["gpu_skipped"] = "no GPU: " + discovery.note;
      std::cout << "no GPU (" << discovery.note << "): the GPU parts are skipped\n";
    }
    targets.push_back({.name = "cpu"});
    part("agreement", [&] { return agreement(kit, targets); });
    part("latency", [&] { return latency(kit, "mlp.xla", {1, 8, 64, 512, 4096}, targets, seconds); });
    if (targets.front().gpu) {  // what TF32 products gain on the GPU (agreement has their accuracy)
      part("latency_tf32", [&] {
        return latency(kit, "mlp_tf32.xla", {64, 4096}, {targets.front()}, seconds);
      });
    }
    // The same MLP with its weights fed as parameters (on the device once), beside the baked mlp.xla.
    part("latency_parameters", [&] {
      return latency(kit, "mlp_parameters.xla", {1, 64, 4096}, {targets.front()}, seconds);
    });
    if (targets.front().gpu) part("caps", [&] { return caps(kit, *targets.front().gpu, seconds); });
    // Without a GPU the batcher runs on the CPU plugin: the code path is exercised where it is built.
    part("batcher", [&] { return batcher(kit, targets.front(), seconds); });
    report["threads"] = {{"at_start", threads_at_start}, {"at_end", hepinfer::bench::process_threads()}};
    std::ofstream(output) << report.dump(2) << "\n";
    std::cout << "wrote " << output << "\n";
  } catch (const std::exception& error) {
    std::cerr << "bench_xla_gpu: " << error.what() << "\n";
    return 1;
  }
  return failed_parts == 0 ? 0 : 1;
}
