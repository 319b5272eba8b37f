// Throughput and latency with 1, 2, 4 and 8 concurrent calling threads, for each hepinfer threading
// mode and for the plain baseline (name-based Session::Run, TF's default pools, one shared
// session), all in one process on the same models and inputs. Writes JSON.
//
// usage: bench_threading MODELS_DIR OUTPUT.json [--seconds S]

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "latency_stats.h"
#include "nlohmann/json.hpp"
#include "oneapi/tbb/task_arena.h"
#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/public/session.h"

namespace {

using Clock = std::chrono::steady_clock;

std::size_t thread_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++count;
  return count;
}

// The plain pattern: LoadSavedModel with default options, Session::Run by tensor name.
class PlainSession {
 public:
  PlainSession(const std::string& dir, const std::string& input_key) {
    const auto status = tensorflow::LoadSavedModel(tensorflow::SessionOptions(), tensorflow::RunOptions(), dir,
                                                   {"serve"}, &bundle_);
    if (!status.ok()) throw std::runtime_error(std::string(status.message()));
    const auto& signature = bundle_.GetSignatures().at("serving_default");
    input_ = signature.inputs().at(input_key).name();
    output_ = signature.outputs().at("output_0").name();
  }
  void run(const tensorflow::Tensor& x) const {
    std::vector<tensorflow::Tensor> outputs;
    const auto status = bundle_.GetSession()->Run({{input_, x}}, {output_}, {}, &outputs);
    if (!status.ok()) throw std::runtime_error(std::string(status.message()));
  }

 private:
  tensorflow::SavedModelBundle bundle_;
  std::string input_, output_;
};

struct Workload {
  std::string name;
  std::string model;
  std::string input;
  hepinfer::Shape shape;
};

struct Measurement {
  double inferences_per_second = 0;
  hepinfer::bench::LatencySummary latency;
  std::size_t threads_during = 0;
};

// `callers` threads each call `call` until the deadline; per-call latencies and the process's
// thread count half-way through are recorded.
template <class Call>
Measurement measure(int callers, double seconds, std::int64_t batch, Call call) {
  for (int i = 0; i < 5; ++i) call();  // callables, allocators, first-run optimisation
  std::vector<std::vector<double>> samples(callers);
  std::atomic<std::size_t> calls{0};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int caller = 0; caller < callers; ++caller) {
    threads.emplace_back([&, caller] {
      while (Clock::now() < deadline) {
        const auto before = Clock::now();
        call();
        samples[caller].push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
        ++calls;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 2));
  Measurement result;
  result.threads_during = thread_count();
  for (auto& thread : threads) thread.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& per_caller : samples) all.insert(all.end(), per_caller.begin(), per_caller.end());
  result.latency = hepinfer::bench::summarise(std::move(all));
  result.inferences_per_second = static_cast<double>(calls.load() * static_cast<std::size_t>(batch)) / wall;
  return result;
}

nlohmann::json to_json(const Measurement& m) {
  return {{"inferences_per_second", m.inferences_per_second},
          {"p50_us", m.latency.median_us},
          {"p99_us", m.latency.p99_us},
          {"calls", m.latency.calls},
          {"process_threads", m.threads_during}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_threading MODELS_DIR OUTPUT.json [--seconds S]\n";
    return 2;
  }
  const std::string models = argv[1];
  double seconds = 1.0;
  if (argc >= 5 && std::string(argv[3]) == "--seconds") seconds = std::stod(argv[4]);
  hepinfer::tf::set_log_level(hepinfer::tf::LogLevel::kWarning);

  const std::size_t threads_at_start = thread_count();
  const std::vector<Workload> workloads = {
      {"mlp_batch1", "mlp", "x", {1, 32}},
      {"mlp_batch64", "mlp", "x", {64, 32}},
      {"cnn_batch16", "cnn", "image", {16, 16, 16, 3}},
  };
  // The baselines are created first so that TF's global pools get TF's default sizes, as in a
  // program that uses TF directly.
  std::map<std::string, std::unique_ptr<PlainSession>> baselines;
  std::map<std::string, std::unique_ptr<hepinfer::Model>> models_by_name;
  for (const std::string name : {"mlp", "cnn"}) {
    baselines[name] = std::make_unique<PlainSession>(models + "/" + name + "/saved_model", name == "mlp" ? "x" : "image");
  }
  const std::size_t threads_after_baselines = thread_count();
  for (const std::string name : {"mlp", "cnn"}) {
    models_by_name[name] = hepinfer::tf::load_model(models + "/" + name + "/saved_model");
  }
  tbb::task_arena framework_arena(static_cast<int>(std::thread::hardware_concurrency()));

  nlohmann::json results = nlohmann::json::array();
  for (const Workload& workload : workloads) {
    hepinfer::Tensor x(hepinfer::DType::kFloat32, workload.shape);
    auto values = x.values<float>();
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 13) * 0.05f;
    tensorflow::TensorShape tf_shape;
    for (auto dim : workload.shape.dims()) tf_shape.AddDim(dim);
    tensorflow::Tensor tf_x(tensorflow::DT_FLOAT, tf_shape);
    std::copy(values.begin(), values.end(), tf_x.flat<float>().data());
    const std::int64_t batch = workload.shape[0];
    const auto& model = *models_by_name.at(workload.model);
    const auto& baseline = *baselines.at(workload.model);

    for (int callers : {1, 2, 4, 8}) {
      nlohmann::json entry = {{"workload", workload.name}, {"batch", batch}, {"calling_threads", callers}};
      entry["baseline"] = to_json(measure(callers, seconds, batch, [&] { baseline.run(tf_x); }));
      for (auto mode : {hepinfer::ThreadingMode::kInline, hepinfer::ThreadingMode::kTbb,
                        hepinfer::ThreadingMode::kTensorFlow}) {
        hepinfer::RunOptions options;
        options.threading = mode;
        auto call = [&] { model.run({{workload.input, x}}, {"output_0"}, options); };
        const Measurement m =
            mode == hepinfer::ThreadingMode::kTbb
                ? measure(callers, seconds, batch, [&] { framework_arena.execute(call); })
                : measure(callers, seconds, batch, call);
        entry[std::string(hepinfer::threading_mode_name(mode))] = to_json(m);
      }
      std::cout << workload.name << " x" << callers << ": baseline "
                << entry["baseline"]["inferences_per_second"].get<double>() << "/s, inline "
                << entry["inline"]["inferences_per_second"].get<double>() << "/s, tbb "
                << entry["tbb"]["inferences_per_second"].get<double>() << "/s, tensorflow "
                << entry["tensorflow"]["inferences_per_second"].get<double>() << "/s\n";
      results.push_back(entry);
    }
  }

  auto find = [&](const std::string& workload, int callers) -> const nlohmann::json& {
    for (const auto& entry : results) {
      if (entry["workload"] == workload && entry["calling_threads"] == callers) return entry;
    }
    throw std::runtime_error("missing " + workload);
  };
  const auto& one = find("mlp_batch1", 1);
  const auto& two = find("mlp_batch1", 2);
  const auto& eight = find("mlp_batch1", 8);
  const double inline_scaling = two["inline"]["inferences_per_second"].get<double>() /
                                one["inline"]["inferences_per_second"].get<double>();
  const double inline_vs_baseline_8 = eight["inline"]["inferences_per_second"].get<double>() /
                                      eight["baseline"]["inferences_per_second"].get<double>();
  const double latency_ratio = one["baseline"]["p50_us"].get<double>() / one["inline"]["p50_us"].get<double>();
  nlohmann::json floors = {
      {"inline_2_threads_over_1_thread_batch1", {{"ratio", inline_scaling}, {"floor", 1.8}, {"met", inline_scaling >= 1.8}}},
      {"inline_over_baseline_8_threads_batch1",
       {{"ratio", inline_vs_baseline_8}, {"floor", 1.5}, {"met", inline_vs_baseline_8 >= 1.5}}},
      {"baseline_over_inline_p50_latency_1_thread_batch1",
       {{"ratio", latency_ratio}, {"floor", 2.0}, {"met", latency_ratio >= 2.0}}},
  };
  nlohmann::json report = {{"benchmark", "threading"},
                           {"tensorflow", hepinfer::tf::runtime_version()},
                           {"hardware_threads", std::thread::hardware_concurrency()},
                           {"seconds_per_measurement", seconds},
                           {"process_threads", {{"at_start", threads_at_start},
                                                {"after_baseline_sessions", threads_after_baselines},
                                                {"after_hepinfer_models", thread_count()}}},
                           {"floors", floors},
                           {"results", results}};
  std::ofstream(argv[2]) << report.dump(2) << "\n";
  std::cout << floors.dump(2) << "\n";
  return 0;
}
