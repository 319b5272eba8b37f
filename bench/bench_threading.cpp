// Throughput and latency with 1, 2, 4 and 8 concurrent calling threads, for each hepinfer threading
// mode and for the plain baseline (name-based Session::Run, TF's default pools, one shared
// session), all in one process on the same models and inputs. Writes JSON.
//
// usage: bench_threading MODELS_DIR OUTPUT.json [--seconds S]

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "latency_stats.h"
#include "nlohmann/json.hpp"
#include "oneapi/tbb/task_arena.h"
#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/platform/env.h"
#include "tensorflow/core/public/session.h"

namespace {

using Clock = std::chrono::steady_clock;

std::size_t thread_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++count;
  return count;
}

// The plain pattern frameworks use today: a frozen graph (ReadBinaryProto, NewSession, Create)
// or a SavedModel (LoadSavedModel), default session options, Session::Run by tensor name.
class PlainSession {
 public:
  PlainSession(const std::string& path, const std::string& input, const std::string& output) {
    if (path.ends_with(".pb")) {
      tensorflow::GraphDef graph;
      check(tensorflow::ReadBinaryProto(tensorflow::Env::Default(), path, &graph));
      session_.reset(tensorflow::NewSession(tensorflow::SessionOptions()));
      check(session_->Create(graph));
      input_ = input + ":0";
      output_ = output + ":0";
    } else {
      check(tensorflow::LoadSavedModel(tensorflow::SessionOptions(), tensorflow::RunOptions(), path, {"serve"},
                                       &bundle_));
      const auto& signature = bundle_.GetSignatures().at("serving_default");
      input_ = signature.inputs().at(input).name();
      output_ = signature.outputs().at(output).name();
    }
  }
  void run(const tensorflow::Tensor& x) const {
    std::vector<tensorflow::Tensor> outputs;
    tensorflow::Session* session = session_ ? session_.get() : bundle_.GetSession();
    check(session->Run({{input_, x}}, {output_}, {}, &outputs));
  }

 private:
  static void check(const absl::Status& status) {
    if (!status.ok()) throw std::runtime_error(std::string(status.message()));
  }
  std::unique_ptr<tensorflow::Session> session_;
  tensorflow::SavedModelBundle bundle_;
  std::string input_, output_;
};

struct Workload {
  std::string name;
  std::string path;  // relative to MODELS_DIR
  std::string input;
  std::string output;
  hepinfer::Shape shape;
};

struct Measurement {
  double inferences_per_second = 0;
  hepinfer::bench::LatencySummary latency;
  std::size_t threads_during = 0;
};

// `callers` threads each call `call` until the deadline; per-call latencies and the process's
// thread count half-way through are recorded.
struct Sample {
  std::vector<double> latencies_us;
  std::size_t calls = 0;
  double wall_seconds = 0;
  std::size_t threads_during = 0;
};

template <class Call>
void measure(int callers, double seconds, Call call, Sample& sample) {
  std::vector<std::vector<double>> latencies(callers);
  std::atomic<std::size_t> calls{0};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int caller = 0; caller < callers; ++caller) {
    threads.emplace_back([&, caller] {
      while (Clock::now() < deadline) {
        const auto before = Clock::now();
        call();
        latencies[caller].push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
        ++calls;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 2));
  sample.threads_during = std::max(sample.threads_during, thread_count());
  for (auto& thread : threads) thread.join();
  sample.wall_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  sample.calls += calls.load();
  for (const auto& per_caller : latencies) {
    sample.latencies_us.insert(sample.latencies_us.end(), per_caller.begin(), per_caller.end());
  }
}

Measurement summarise(Sample sample, std::int64_t batch) {
  Measurement result;
  result.threads_during = sample.threads_during;
  result.inferences_per_second =
      static_cast<double>(sample.calls * static_cast<std::size_t>(batch)) / sample.wall_seconds;
  result.latency = hepinfer::bench::summarise(std::move(sample.latencies_us));
  return result;
}

nlohmann::json to_json(const Measurement& m) {
  return {{"inferences_per_second", m.inferences_per_second},
          {"p50_us", m.latency.p50_us},
          {"p99_us", m.latency.p99_us},
          {"calls", m.latency.count},
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
      {"mlp_batch1", "mlp/frozen.pb", "x", "Identity", {1, 32}},
      {"mlp_batch64", "mlp/frozen.pb", "x", "Identity", {64, 32}},
      {"cnn_batch16", "cnn/frozen.pb", "image", "Identity", {16, 16, 16, 3}},
      {"mlp_savedmodel_batch1", "mlp/saved_model", "x", "output_0", {1, 32}},
  };
  // The baselines are created first so that TF's global pools get TF's default sizes, as in a
  // program that uses TF directly.
  std::map<std::string, std::unique_ptr<PlainSession>> baselines;
  for (const Workload& workload : workloads) {
    if (!baselines.contains(workload.path)) {
      baselines[workload.path] =
          std::make_unique<PlainSession>(models + "/" + workload.path, workload.input, workload.output);
    }
  }
  const std::size_t threads_after_baselines = thread_count();
  std::map<std::string, std::unique_ptr<hepinfer::Model>> models_by_path;
  for (const Workload& workload : workloads) {
    if (!models_by_path.contains(workload.path)) {
      models_by_path[workload.path] = hepinfer::tf::load_model(models + "/" + workload.path);
    }
  }
  const std::size_t threads_after_hepinfer_models = thread_count();
  tbb::task_arena framework_arena(static_cast<int>(std::thread::hardware_concurrency()));

  const std::vector<std::string> kinds = {"baseline", "inline", "tbb", "tensorflow"};
  constexpr int kRounds = 3;  // kinds alternate within each round, so drifts in load hit all alike
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
    const auto& model = *models_by_path.at(workload.path);
    const auto& baseline = *baselines.at(workload.path);

    auto run_kind = [&](const std::string& kind, int callers, double seconds, Sample& sample) {
      if (kind == "baseline") return measure(callers, seconds, [&] { baseline.run(tf_x); }, sample);
      hepinfer::RunOptions options;
      options.threading = hepinfer::parse_threading_mode(kind);
      auto call = [&] { model.run({{workload.input, x}}, {workload.output}, options); };
      if (kind == "tbb") return measure(callers, seconds, [&] { framework_arena.execute(call); }, sample);
      return measure(callers, seconds, call, sample);
    };
    for (int callers : {1, 2, 4, 8}) {
      std::map<std::string, Sample> samples;
      for (const auto& kind : kinds) {  // warm-up: callables, allocators, first-run optimisation
        Sample ignored;
        run_kind(kind, callers, 0.05, ignored);
      }
      for (int round = 0; round < kRounds; ++round) {
        for (std::size_t k = 0; k < kinds.size(); ++k) {
          const std::string& kind = kinds[(k + static_cast<std::size_t>(round)) % kinds.size()];
          run_kind(kind, callers, seconds / kRounds, samples[kind]);
        }
      }
      nlohmann::json entry = {{"workload", workload.name}, {"model", workload.path}, {"batch", batch},
                              {"calling_threads", callers}};
      for (const auto& kind : kinds) entry[kind] = to_json(summarise(std::move(samples[kind]), batch));
      std::cout << workload.name << " x" << callers << ":";
      for (const auto& kind : kinds) std::cout << " " << kind << " " << entry[kind]["inferences_per_second"].get<double>() << "/s";
      std::cout << std::endl;
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
  const auto& saved_one = find("mlp_savedmodel_batch1", 1);
  const double saved_latency_ratio =
      saved_one["baseline"]["p50_us"].get<double>() / saved_one["inline"]["p50_us"].get<double>();
  nlohmann::json floors = {
      {"inline_2_threads_over_1_thread_batch1", {{"ratio", inline_scaling}, {"floor", 1.8}, {"met", inline_scaling >= 1.8}}},
      {"inline_over_baseline_8_threads_batch1",
       {{"ratio", inline_vs_baseline_8}, {"floor", 1.5}, {"met", inline_vs_baseline_8 >= 1.5}}},
      {"baseline_over_inline_p50_latency_1_thread_batch1",
       {{"ratio", latency_ratio}, {"floor", 2.0}, {"met", latency_ratio >= 2.0}}},
      {"baseline_over_inline_p50_latency_1_thread_batch1_savedmodel",
       {{"ratio", saved_latency_ratio}, {"floor", 2.0}, {"met", saved_latency_ratio >= 2.0}}},
  };
  nlohmann::json report = {{"benchmark", "threading"},
                           {"tensorflow", hepinfer::tf::runtime_version()},
                           {"hardware_threads", std::thread::hardware_concurrency()},
                           {"seconds_per_measurement", seconds},
                           {"process_threads", {{"at_start", threads_at_start},
                                                {"after_baseline_sessions", threads_after_baselines},
                                                {"after_hepinfer_models", threads_after_hepinfer_models},
                                                {"at_end", thread_count()}}},
                           {"floors", floors},
                           {"results", results}};
  std::ofstream(argv[2]) << report.dump(2) << "\n";
  std::cout << floors.dump(2) << "\n";
  return 0;
}
