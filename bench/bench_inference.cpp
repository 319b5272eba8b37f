// Per-call latency and throughput of the MLP through hepinfer, against the plain TensorFlow C++
// pattern frameworks use today (name-based Session::Run, default session options, one shared
// session), measured in the same process with the same SavedModel and inputs. Writes JSON.
//
// usage: bench_inference MODELS_DIR OUTPUT.json [--seconds S] [--batches 1,64,1024]

#include <fstream>
#include <iostream>
#include <vector>
#include <string>

#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "latency_stats.h"
#include "nlohmann/json.hpp"
#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/public/session.h"

namespace {

// What CMSSW's PhysicsTools/TensorFlow does per call: look up names, Session::Run.
class PlainSessionBaseline {
 public:
  explicit PlainSessionBaseline(const std::string& dir) {
    const auto status = tensorflow::LoadSavedModel(tensorflow::SessionOptions(), tensorflow::RunOptions(), dir,
                                                   {"serve"}, &bundle_);
    if (!status.ok()) throw std::runtime_error("baseline cannot load " + dir + ": " + std::string(status.message()));
    const auto& signature = bundle_.GetSignatures().at("serving_default");
    input_name_ = signature.inputs().at("x").name();
    output_name_ = signature.outputs().at("output_0").name();
  }
  void run(const tensorflow::Tensor& x) {
    std::vector<tensorflow::Tensor> outputs;
    const auto status = bundle_.GetSession()->Run({{input_name_, x}}, {output_name_}, {}, &outputs);
    if (!status.ok()) throw std::runtime_error(std::string(status.message()));
  }

 private:
  tensorflow::SavedModelBundle bundle_;
  std::string input_name_, output_name_;
};


}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_inference MODELS_DIR OUTPUT.json [--seconds S] [--batches 1,64,1024]\n";
    return 2;
  }
  const std::string models = argv[1];
  const std::string output = argv[2];
  double seconds = 2.0;
  std::vector<std::int64_t> batches{1, 64, 1024};
  if (!hepinfer::bench::parse_batch_options(argc, argv, 3, "bench_inference", seconds, batches)) return 2;
  hepinfer::tf::set_log_level(hepinfer::tf::LogLevel::kWarning);

  const std::string model_dir = models + "/mlp/saved_model";
  const auto model = hepinfer::tf::load_model(model_dir);
  PlainSessionBaseline baseline(model_dir);

  nlohmann::json results = nlohmann::json::array();
  for (const std::int64_t batch : batches) {
    hepinfer::Tensor x(hepinfer::DType::kFloat32, {batch, 32});
    auto values = x.values<float>();
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 17) * 0.1f;
    tensorflow::Tensor tf_x(tensorflow::DT_FLOAT, {batch, 32});
    std::copy(values.begin(), values.end(), tf_x.flat<float>().data());

    const std::size_t min_calls = batch >= 1024 ? 50 : 200;
    // Alternate the two in halves so that drifts in machine load hit both alike.
    std::vector<double> hepinfer_samples, baseline_samples;
    for (int half = 0; half < 2; ++half) {
      auto h = hepinfer::bench::time_calls([&] { model->run({{"x", x}}, {"output_0"}); }, seconds / 2, min_calls / 2, 20);
      auto b = hepinfer::bench::time_calls([&] { baseline.run(tf_x); }, seconds / 2, min_calls / 2, 20);
      hepinfer_samples.insert(hepinfer_samples.end(), h.begin(), h.end());
      baseline_samples.insert(baseline_samples.end(), b.begin(), b.end());
    }
    const auto hepinfer_summary = hepinfer::bench::summarise(hepinfer_samples);
    const auto baseline_summary = hepinfer::bench::summarise(baseline_samples);
    results.push_back({{"model", "mlp"},
                       {"batch", batch},
                       {"hepinfer", hepinfer::bench::latency_json(hepinfer_summary, batch)},
                       {"tf_cpp_session_run", hepinfer::bench::latency_json(baseline_summary, batch)}});
    std::cout << "batch " << batch << ": hepinfer median " << hepinfer_summary.p50_us << " us, plain Session::Run "
              << baseline_summary.p50_us << " us\n";
  }
  nlohmann::json report = {{"benchmark", "inference_latency"},
                           {"tensorflow", hepinfer::tf::runtime_version()},
                           {"calling_threads", 1},
                           {"results", results}};
  std::ofstream(output) << report.dump(2) << "\n";
  return 0;
}
