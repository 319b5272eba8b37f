// Where a batch-1 run's time goes, node by node: runs a model the way hepinfer's inline mode does
// (callable, per-run inline pools, hepinfer's session options) with TensorFlow's step statistics
// on, and prints the nodes executed per run and their mean time. Used for docs/performance.md.
//
// usage: profile_nodes MODEL INPUT_TENSOR OUTPUT_TENSOR FEATURES [RUNS]
//   e.g. profile_nodes build/models/mlp/saved_model serving_default_x:0 StatefulPartitionedCall_1:0 32

#include <algorithm>
#include <iostream>
#include <map>

#include "absl/log/globals.h"
#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/framework/step_stats.pb.h"
#include "tensorflow/core/platform/env.h"
#include "tensorflow/core/protobuf/config.pb.h"
#include "tensorflow/core/public/session.h"
#include "xla/tsl/platform/threadpool_options.h"

namespace {

struct InlinePool final : tsl::thread::ThreadPoolInterface {
  void Schedule(std::function<void()> closure) override { closure(); }
  int NumThreads() const override { return 1; }
  int CurrentThreadId() const override { return -1; }
};

void check(const absl::Status& status) {
  if (!status.ok()) {
    std::cerr << status.message() << "\n";
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: profile_nodes MODEL INPUT_TENSOR OUTPUT_TENSOR FEATURES [RUNS]\n";
    return 2;
  }
  absl::SetMinLogLevel(absl::LogSeverityAtLeast::kError);
  const std::string path = argv[1];
  const int runs = argc > 5 ? std::atoi(argv[5]) : 500;
  tensorflow::SessionOptions options;
  options.config.set_inter_op_parallelism_threads(1);
  options.config.set_intra_op_parallelism_threads(1);
  options.config.mutable_graph_options()->mutable_optimizer_options()->set_do_function_inlining(true);

  tensorflow::SavedModelBundle bundle;
  std::unique_ptr<tensorflow::Session> frozen;
  tensorflow::Session* session = nullptr;
  if (path.ends_with(".pb")) {
    tensorflow::GraphDef graph;
    check(tensorflow::ReadBinaryProto(tensorflow::Env::Default(), path, &graph));
    frozen.reset(tensorflow::NewSession(options));
    check(frozen->Create(graph));
    session = frozen.get();
  } else {
    check(tensorflow::LoadSavedModel(options, tensorflow::RunOptions(), path, {"serve"}, &bundle));
    session = bundle.GetSession();
  }
  tensorflow::CallableOptions callable;
  callable.add_feed(argv[2]);
  callable.add_fetch(argv[3]);
  callable.mutable_run_options()->set_trace_level(tensorflow::RunOptions::FULL_TRACE);
  tensorflow::Session::CallableHandle handle;
  check(session->MakeCallable(callable, &handle));

  tensorflow::Tensor x(tensorflow::DT_FLOAT, {1, std::atoll(argv[4])});
  x.flat<float>().setConstant(0.5f);
  InlinePool pool;
  tsl::thread::ThreadPoolOptions pools;
  pools.inter_op_threadpool = &pool;
  pools.intra_op_threadpool = &pool;
  std::map<std::string, std::pair<int, double>> by_op;  // op -> (count, total µs)
  int nodes = 0;
  for (int run = 0; run < runs; ++run) {
    std::vector<tensorflow::Tensor> outputs;
    tensorflow::RunMetadata metadata;
    check(session->RunCallable(handle, {x}, &outputs, &metadata, pools));
    if (run < 50) continue;  // warm-up
    for (const auto& device : metadata.step_stats().dev_stats()) {
      for (const auto& node : device.node_stats()) {
        const std::string label = node.timeline_label().empty() ? node.node_name() : node.timeline_label();
        const std::string op = label.substr(label.find('=') == std::string::npos ? 0 : label.find('=') + 2);
        auto& entry = by_op[op.substr(0, op.find('('))];
        entry.first += 1;
        entry.second += static_cast<double>(node.all_end_rel_micros());
        ++nodes;
      }
    }
  }
  const double measured = runs - 50;
  std::cout << path << ": " << nodes / measured << " nodes per run\n";
  std::vector<std::pair<std::string, std::pair<int, double>>> sorted(by_op.begin(), by_op.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.second > b.second.second; });
  for (const auto& [op, stats] : sorted) {
    std::cout << "  " << op << ": " << stats.first / measured << " per run, " << stats.second / measured
              << " us per run\n";
  }
  return 0;
}
