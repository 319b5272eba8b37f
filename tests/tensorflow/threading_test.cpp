// Where TensorFlow's work runs in each threading mode, and what threads it costs. Each test runs
// in a process of its own (gtest_discover_tests), so thread counts start from a clean slate.

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <thread>

#include "hepinfer/core/npy.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/parallel_for.h"
#include "oneapi/tbb/task_arena.h"
#include "process_threads.h"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer {
namespace {

constexpr int kCallers = 4;
constexpr int kRunsPerCaller = 1000;

std::unique_ptr<Model> load(const std::string& name, ThreadingMode mode) {
  tf::LoadOptions options;
  options.threading = mode;
  return tf::load_model(test::test_model(name).formats.at("saved_model").path, options);
}

Tensor reference_input(const std::string& model, const std::string& input) {
  return read_npy(test::test_model(model).cases.back().inputs.at(input));
}
Tensor reference_output(const std::string& model, const std::string& output) {
  return read_npy(test::test_model(model).cases.back().outputs.at(output));
}

// Runs `body` on `callers` threads at once; while they are all alive (after their work), records
// the process's thread count in `count_while_alive`.
template <class Body>
void on_callers(int callers, Body body, std::size_t* count_while_alive) {
  std::barrier work_done(callers + 1), may_exit(callers + 1);
  std::vector<std::thread> threads;
  for (int caller = 0; caller < callers; ++caller) {
    threads.emplace_back([&, caller] {
      body(caller);
      work_done.arrive_and_wait();
      may_exit.arrive_and_wait();
    });
  }
  work_done.arrive_and_wait();
  *count_while_alive = test::thread_count();
  may_exit.arrive_and_wait();
  for (auto& thread : threads) thread.join();
}

// Threads TensorFlow made while loading: named by TF, or anything but this (main) thread.
std::vector<test::ThreadSample> threads_other_than_main() {
  std::vector<test::ThreadSample> others;
  for (const auto& sample : test::process_threads()) {
    if (sample.tid != test::current_tid()) others.push_back(sample);
  }
  return others;
}

// The thread-budget workload: each caller runs the MLP every time and the CNN (oneDNN
// convolutions) every 20th time, checking every output against Python's.
struct MixedWorkload {
  explicit MixedWorkload(ThreadingMode mode)
      : mlp(load("mlp", mode)),
        cnn(load("cnn", mode)),
        x(reference_input("mlp", "x")),
        image(reference_input("cnn", "image")),
        mlp_expected(reference_output("mlp", "prob")),
        cnn_expected(reference_output("cnn", "prob")) {}

  void run_as_caller(int caller) {
    for (int run = 0; run < kRunsPerCaller; ++run) {
      if (!test::tensors_match(mlp->run({{"x", x}}, {"output_0"})[0], mlp_expected, 1e-5)) ++wrong;
      if (run % 20 == caller && !test::tensors_match(cnn->run({{"image", image}}, {})[0], cnn_expected, 1e-5)) {
        ++wrong;
      }
    }
  }

  std::unique_ptr<Model> mlp, cnn;
  Tensor x, image, mlp_expected, cnn_expected;
  std::atomic<int> wrong{0};
};

TEST(ThreadBudget, LoadingCreatesOnlyTensorFlowsMinimalPools) {
  const std::size_t at_start = test::thread_count();
  const auto model = load("mlp", ThreadingMode::kInline);
  // TF's process-wide inter-op pool, its CPU device pool and its graph runner: TF makes them with
  // the first session whatever the options; hepinfer sizes each to one thread.
  EXPECT_LE(test::thread_count() - at_start, 3u);
  for (const auto& sample : threads_other_than_main()) std::printf("after load: thread %s\n", sample.name.c_str());
}

TEST(ThreadBudget, InlineRunsCreateNoThreadsAndLeaveTensorFlowsIdle) {
  MixedWorkload workload(ThreadingMode::kInline);
  const std::size_t before = test::thread_count();
  const auto tensorflow_threads = threads_other_than_main();
  const double tensorflow_cpu_before = test::cpu_seconds_of(tensorflow_threads);

  std::size_t while_alive = 0;
  on_callers(kCallers, [&](int caller) { workload.run_as_caller(caller); }, &while_alive);

  EXPECT_EQ(workload.wrong.load(), 0);
  EXPECT_EQ(while_alive, before + kCallers) << "only the calling threads themselves may exist";
  EXPECT_EQ(test::thread_count_settled(before), before);
  // All of TF's work ran on the callers: TF's own threads did (next to) nothing.
  EXPECT_LT(test::cpu_seconds_of(tensorflow_threads) - tensorflow_cpu_before, 0.05);
}

TEST(ThreadBudget, NoOpenMpRuntimeIsLoaded) {
  // The wheel's oneDNN uses TF's thread pools, not OpenMP, which would start threads of its own.
  const auto model = load("cnn", ThreadingMode::kInline);
  model->run({{"image", reference_input("cnn", "image")}}, {});
  std::ifstream maps("/proc/self/maps");
  const std::string mapped((std::istreambuf_iterator<char>(maps)), {});
  EXPECT_EQ(mapped.find("libgomp"), std::string::npos);
  EXPECT_EQ(mapped.find("libiomp"), std::string::npos);
}

TEST(ThreadBudget, TbbRunsUseNoThreadsBeyondTbbs) {
  MixedWorkload workload(ThreadingMode::kTbb);
  tbb::task_arena arena(2);
  // Make TBB start all its workers before counting.
  arena.execute([] {
    tbb::parallel_for(0, 64, [](int) { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
  });
  const std::size_t before = test::thread_count();

  std::size_t while_alive = 0;
  on_callers(kCallers, [&](int caller) { arena.execute([&] { workload.run_as_caller(caller); }); }, &while_alive);

  EXPECT_EQ(workload.wrong.load(), 0);
  EXPECT_EQ(while_alive, before + kCallers);
  EXPECT_EQ(test::thread_count_settled(before), before);
  for (const auto& sample : test::process_threads()) {
    EXPECT_NE(sample.name.rfind("tf_hepinf", 0), 0u) << "tensorflow-mode pools were created";
  }
}

TEST(TbbMode, ClosuresRunOnOtherTbbThreads) {
  // A single caller in a two-thread arena: the big convolution batch is split, and the arena's
  // other thread does part of it.
  const auto cnn = load("cnn", ThreadingMode::kTbb);
  tbb::task_arena arena(2);
  arena.execute([] { tbb::parallel_for(0, 16, [](int) { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }); });
  const auto others = threads_other_than_main();
  const double others_before = test::cpu_seconds_of(others);
  Tensor images(DType::kFloat32, {512, 16, 16, 3});
  // On a loaded machine the arena's other thread may get little CPU for a while: keep running
  // (a bounded number of times) until it has done a measurable share.
  double others_seconds = 0;
  for (int round = 0; round < 10 && others_seconds <= 0.05; ++round) {
    arena.execute([&] {
      for (int run = 0; run < 40; ++run) cnn->run({{"image", images}}, {});
    });
    others_seconds = test::cpu_seconds_of(others) - others_before;
  }
  EXPECT_GT(others_seconds, 0.05) << "no work ran outside the calling thread";
}

// Fails the test (and ends the process) if `work` does not finish in time: a deadlock cannot be
// recovered from inside the process.
template <class Work>
void finishes_within(std::chrono::seconds limit, Work work) {
  auto done = std::async(std::launch::async, work);
  if (done.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "deadlock: work did not finish within %lld s\n", static_cast<long long>(limit.count()));
    std::_Exit(1);
  }
  done.get();
}

TEST(TbbMode, MoreConcurrentRunsThanTbbThreadsDoNotDeadlock) {
  const auto cnn = load("cnn", ThreadingMode::kTbb);
  const auto expected = reference_output("cnn", "prob");
  const Tensor image = reference_input("cnn", "image");
  Tensor big(DType::kFloat32, {256, 16, 16, 3});
  std::atomic<int> wrong{0};
  finishes_within(std::chrono::seconds(240), [&] {
    tbb::task_arena arena(2);
    arena.execute([&] {
      // Every TBB thread inside a run, with more runs queued behind them.
      tbb::parallel_for(0, 64, [&](int i) {
        if (i % 4 == 0) {
          cnn->run({{"image", big}}, {});
        } else if (!test::tensors_match(cnn->run({{"image", image}}, {})[0], expected, 1e-5)) {
          ++wrong;
        }
      });
    });
  });
  EXPECT_EQ(wrong.load(), 0);
}

TEST(TbbMode, NestedParallelismAndExternalCallersDoNotDeadlock) {
  const auto cnn = load("cnn", ThreadingMode::kTbb);
  const auto mlp = load("mlp", ThreadingMode::kTbb);
  Tensor big(DType::kFloat32, {128, 16, 16, 3});
  const Tensor x = reference_input("mlp", "x");
  std::atomic<int> wrong{0};
  finishes_within(std::chrono::seconds(240), [&] {
    tbb::task_arena arena(2);
    std::vector<std::thread> external;
    for (int t = 0; t < 8; ++t) {  // more callers than the arena has threads
      external.emplace_back([&] {
        arena.execute([&] {
          tbb::parallel_for(0, 4, [&](int) {        // a module's own parallel loop...
            tbb::parallel_for(0, 2, [&](int j) {    // ...nested in another one
              if (j == 0) {
                cnn->run({{"image", big}}, {});
              } else if (!test::tensors_match(mlp->run({{"x", x}}, {"output_0"})[0], reference_output("mlp", "prob"),
                                              1e-5)) {
                ++wrong;
              }
            });
          });
        });
      });
    }
    for (auto& thread : external) thread.join();
  });
  EXPECT_EQ(wrong.load(), 0);
}

TEST(TensorFlowMode, RunsOnConfiguredPools) {
  tf::RuntimeOptions options;
  options.tensorflow_inter_op_threads = 2;
  options.tensorflow_intra_op_threads = 3;
  tf::configure_runtime(options);
  const auto cnn = load("cnn", ThreadingMode::kBackendPools);
  EXPECT_TENSORS_MATCH(cnn->run({{"image", reference_input("cnn", "image")}}, {})[0], reference_output("cnn", "prob"),
                       1e-5);
  int inter = 0, intra = 0;
  for (const auto& sample : test::process_threads()) {
    inter += sample.name == "tf_hepinf_inter";
    intra += sample.name == "tf_hepinf_intra";
  }
  EXPECT_EQ(inter, 2);
  EXPECT_EQ(intra, 3);
  options.tensorflow_intra_op_threads = 5;
  EXPECT_THROW(tf::configure_runtime(options), InvalidArgumentError) << "pool sizes are fixed once used";
}

TEST(ThreadingMode, CanBeChosenPerRun) {
  const auto mlp = load("mlp", ThreadingMode::kInline);
  const Tensor x = reference_input("mlp", "x");
  const auto expected = reference_output("mlp", "prob");
  for (ThreadingMode mode : {ThreadingMode::kInline, ThreadingMode::kTbb, ThreadingMode::kBackendPools}) {
    RunOptions options;
    options.threading = mode;
    EXPECT_TENSORS_MATCH(mlp->run({{"x", x}}, {"output_0"}, options)[0], expected, 1e-5) << threading_mode_name(mode);
  }
  EXPECT_EQ(parse_threading_mode("tbb"), ThreadingMode::kTbb);
  EXPECT_FALSE(parse_threading_mode("openmp").has_value());
}

TEST(Memory, OneSharedModelDoesNotGrowWithCallers) {
  const auto mlp = load("mlp", ThreadingMode::kInline);
  const Tensor x = reference_input("mlp", "x");
  std::vector<std::int64_t> growth;
  for (int callers : {1, 4, 16}) {
    const std::int64_t before = test::resident_bytes();
    std::size_t unused = 0;
    on_callers(callers, [&](int) {
      for (int run = 0; run < 200; ++run) mlp->run({{"x", x}}, {"output_0"});
    }, &unused);
    growth.push_back(test::resident_bytes() - before);
    std::printf("RSS growth with %d callers: %.1f MiB\n", callers, static_cast<double>(growth.back()) / (1 << 20));
  }
  // No per-thread sessions: sixteen callers cost at most a few MiB more than one.
  EXPECT_LT(growth[2] - growth[0], 16 << 20);
}

TEST(Warmup, RunsAtLoadAndIsTimed) {
  tf::LoadOptions options;
  options.warmup_runs = 3;
  options.warmup_batch_sizes = {1, 16};
  const auto model = tf::load_model(test::test_model("multi_io").formats.at("saved_model").path, options);
  const LoadTiming& timing = model->info().timing;
  EXPECT_EQ(timing.warmup_runs, 6);
  EXPECT_GT(timing.load_ms, 0.0);
  EXPECT_GT(timing.warmup_ms, 0.0);
}

TEST(Warmup, NegativeBatchIsRejected) {
  tf::LoadOptions options;
  options.warmup_runs = 1;
  options.warmup_batch_sizes = {-4};
  EXPECT_THROW(tf::load_model(test::test_model("mlp").formats.at("saved_model").path, options), InvalidArgumentError);
}

TEST(Callables, InputOrderDoesNotMatter) {
  const auto model = tf::load_model(test::test_model("multi_io").formats.at("saved_model").path);
  const auto& reference = test::test_model("multi_io").cases.back();
  const Tensor jets = read_npy(reference.inputs.at("jets")), event = read_npy(reference.inputs.at("event"));
  const auto forward = model->run({{"jets", jets}, {"event", event}}, {"output_1", "output_0"});
  const auto backward = model->run({{"event", event}, {"jets", jets}}, {"output_0", "output_1"});
  EXPECT_TENSORS_MATCH(forward[0], backward[1], 0.0);
  EXPECT_TENSORS_MATCH(forward[1], backward[0], 0.0);
}

}  // namespace
}  // namespace hepinfer
