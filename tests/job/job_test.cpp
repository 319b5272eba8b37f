// The demo job end to end on in-process models: every event reaches every module exactly once,
// synchronous and asynchronous (external-work) modules agree, stopping and failing are clean, and
// the plan decides devices and budgets.

#include <gtest/gtest.h>

#include "demo_backend.h"
#include "error_message.h"
#include "hepinfer/core/error.h"
#include "job/job.h"

namespace hepinfer::framework {
namespace {

JobWorkflow demo_workflow(std::int64_t events, int streams, int threads) {
  JobWorkflow workflow = job_workflow_from(
      framework::parse_workflow(std::string(default_workflow_yaml()), "demo"), "/nonexistent");
  workflow.job.events = events;
  workflow.job.streams = streams;
  workflow.job.threads = threads;
  workflow.modules[0].batch_rows = 32;  // small enough that concurrent events get split and merged
  workflow.modules[2].split_rows = 500;
  return workflow;
}

JobOptions demo_options() { return JobOptions{.load = test::demo_loader()}; }

const ModuleReport& module_named(const JobReport& report, const std::string& name) {
  for (const ModuleReport& module : report.modules) {
    if (module.name == name) return module;
  }
  throw NotFoundError(name);
}

TEST(Job, EveryEventReachesEveryModuleOnceWithTheRightRows) {
  const std::int64_t events = 300;
  std::int64_t jets = 0, particles = 0;
  for (std::int64_t number = 0; number < events; ++number) {
    const SyntheticEvent event = make_synthetic_event(12345, number);
    jets += event.jets.rows();
    particles += event.particles.rows();
  }
  const JobReport report = run_job(demo_workflow(events, 6, 3), demo_options());
  EXPECT_TRUE(report.succeeded()) << report.error;
  EXPECT_EQ(report.events_processed, events);
  EXPECT_FALSE(report.interrupted);
  ASSERT_EQ(report.modules.size(), 3u);
  for (const ModuleReport& module : report.modules) {
    EXPECT_EQ(module.calls, events) << module.name;
    EXPECT_EQ(module.failed_checks, 0) << module.first_failure;
    EXPECT_EQ(module.device, "CPU");
  }
  EXPECT_EQ(module_named(report, "jet_tagger").rows, jets);
  EXPECT_EQ(module_named(report, "event_classifier").rows, events);
  EXPECT_EQ(module_named(report, "particle_flow").rows, particles);
  EXPECT_GT(module_named(report, "particle_flow").split_runs, 0);
  EXPECT_LE(module_named(report, "particle_flow").largest_backend_rows, 500);
  EXPECT_GT(report.events_per_second, 0);
  EXPECT_GT(report.cpu_seconds, 0);
  EXPECT_GT(report.peak_rss_bytes, 0);
}

TEST(Job, SynchronousAndExternalWorkModulesGiveTheSameOutputs) {
  const JobReport asynchronous = run_job(demo_workflow(200, 8, 2), demo_options());
  JobWorkflow workflow = demo_workflow(200, 1, 1);
  disable_batching(workflow);
  const JobReport synchronous = run_job(workflow, demo_options());
  ASSERT_TRUE(asynchronous.succeeded() && synchronous.succeeded());
  EXPECT_EQ(module_named(asynchronous, "jet_tagger").mode, ExecutionMode::kAsync);
  EXPECT_GT(module_named(asynchronous, "jet_tagger").mean_batch_rows,
            module_named(synchronous, "jet_tagger").mean_batch_rows);  // events were merged
  for (std::size_t m = 0; m < 3; ++m) {
    // The in-process models compute row by row, so merging and splitting change no bits.
    EXPECT_EQ(asynchronous.modules[m].checksum, synchronous.modules[m].checksum) << asynchronous.modules[m].name;
    EXPECT_NE(asynchronous.modules[m].checksum, 0.0);
  }
}

TEST(Job, TheJobAddsOnlyItsArenaAndOneDispatcherPerBatchingModule) {
  JobOptions options = demo_options();
  options.progress_interval = std::chrono::milliseconds(1);  // sample the thread count often
  const JobReport report = run_job(demo_workflow(400, 4, 3), options);
  ASSERT_TRUE(report.succeeded());
  // This test's thread + 3 arena threads + 1 batcher dispatcher (+ ThreadSanitizer's own thread).
#if defined(__SANITIZE_THREAD__)
  constexpr int kSanitizerThreads = 1;
#else
  constexpr int kSanitizerThreads = 0;
#endif
  EXPECT_LE(report.peak_threads, 1 + 3 + 1 + kSanitizerThreads);
  EXPECT_GE(report.peak_threads, 2);
}

TEST(Job, StoppingFinishesTheEventsInFlightAndLosesNothing) {
  std::atomic<bool> stop{false};
  JobOptions options = demo_options();
  options.stop = &stop;
  options.progress_interval = std::chrono::milliseconds(1);
  options.progress = [&stop](const JobProgress& progress) {
    if (progress.events_done >= 50) stop.store(true);
  };
  const JobReport report = run_job(demo_workflow(1'000'000, 4, 2), options);
  EXPECT_TRUE(report.interrupted);
  EXPECT_GE(report.events_processed, 50);
  EXPECT_LT(report.events_processed, 1'000'000);
  for (const ModuleReport& module : report.modules) EXPECT_EQ(module.calls, report.events_processed) << module.name;
}

TEST(Job, AModelErrorStopsTheJobAndIsReported) {
  // Event 0 of seed 12345 has 5 jets; the jet tagger fails whenever it sees a run of 5 rows.
  JobWorkflow workflow = demo_workflow(100, 2, 2);
  disable_batching(workflow);
  const JobReport report = run_job(workflow, JobOptions{.load = test::demo_loader(5)});
  EXPECT_FALSE(report.succeeded());
  EXPECT_NE(report.error.find("failing on purpose"), std::string::npos) << report.error;
  EXPECT_LT(report.events_processed, 100);
}

TEST(Job, WrongOutputsAreCountedAndNamed) {
  JobWorkflow workflow = demo_workflow(50, 2, 2);
  disable_batching(workflow);
  const JobReport report = run_job(workflow, JobOptions{.load = test::demo_loader(-1, 5)});
  EXPECT_TRUE(report.error.empty());
  EXPECT_EQ(report.events_processed, 50);
  EXPECT_GT(report.failed_checks(), 0);
  const ModuleReport& tagger = module_named(report, "jet_tagger");
  EXPECT_GT(tagger.failed_checks, 0);
  EXPECT_NE(tagger.first_failure.find("module 'jet_tagger' event"), std::string::npos) << tagger.first_failure;
  EXPECT_NE(tagger.first_failure.find("NaN"), std::string::npos) << tagger.first_failure;
}

TEST(Job, ThePlanGivesDevicesAndBudgets) {
  JobOptions options = demo_options();
  options.inventory.gpus.push_back({.id = 0, .name = "simulated", .total_mib = 16384, .free_mib = 16384});
  const JobReport report = run_job(demo_workflow(20, 2, 2), options);
  ASSERT_TRUE(report.succeeded()) << report.error;
  const ModuleReport& tagger = module_named(report, "jet_tagger");
  EXPECT_EQ(tagger.assigned_device, "GPU 0");
  EXPECT_EQ(tagger.device, "GPU 0");
  EXPECT_TRUE(tagger.placement_note.empty());
  EXPECT_EQ(tagger.memory_budget_bytes, 2048LL * 1024 * 1024);
  EXPECT_EQ(module_named(report, "particle_flow").device, "CPU");
  ASSERT_TRUE(module_named(report, "jet_tagger").estimated_peak_bytes.has_value());
}

TEST(Job, TheReportSaysWhereAModelRanWhenItIsNotWhereThePlanPutIt) {
  JobOptions options = demo_options();
  options.inventory.gpus.push_back({.id = 0, .name = "simulated", .total_mib = 16384, .free_mib = 16384});
  options.load = test::cpu_only_demo_loader();
  const JobReport report = run_job(demo_workflow(20, 2, 2), options);
  ASSERT_TRUE(report.succeeded()) << report.error;
  const ModuleReport& tagger = module_named(report, "jet_tagger");
  EXPECT_EQ(tagger.assigned_device, "GPU 0");
  EXPECT_EQ(tagger.device, "CPU");
  EXPECT_EQ(tagger.placement_note, "this stand-in backend has no GPU");
}

TEST(Job, AClaimThatCannotBeMetFailsBeforeAnyEvent) {
  JobWorkflow workflow = demo_workflow(20, 2, 2);
  workflow.modules[0].claim.cpu_fallback = false;
  const std::string message = test::error_message_of<ResourceExhaustedError>([&] { run_job(workflow, demo_options()); });
  EXPECT_NE(message.find("jet_tagger"), std::string::npos) << message;
}

TEST(Job, ZeroEventsGiveAnEmptySummaryWithoutDividingByZero) {
  const JobReport report = run_job(demo_workflow(0, 2, 2), demo_options());
  EXPECT_TRUE(report.succeeded());
  EXPECT_EQ(report.events_processed, 0);
  for (const ModuleReport& module : report.modules) {
    EXPECT_EQ(module.calls, 0);
    EXPECT_EQ(module.mean_batch_rows, 0.0);
    EXPECT_EQ(module.latency_p99_us, 0.0);
  }
}

TEST(Job, ALoaderThatFailsStopsBeginJobWithItsError) {
  JobOptions options = demo_options();
  options.load = [](const ModuleSetup& setup, const scheduler::Assignment&) -> std::shared_ptr<const Model> {
    if (setup.kind == ModuleKind::kParticleFlow) throw FileNotFoundError("no model at '" + setup.model.string() + "'");
    return std::make_shared<test::DemoModel>(setup.kind);
  };
  const std::string message = test::error_message_of<FileNotFoundError>([&] { run_job(demo_workflow(10, 2, 2), options); });
  EXPECT_NE(message.find("particle_flow/saved_model"), std::string::npos) << message;
}

TEST(Job, RefusesAMissingLoader) {
  EXPECT_THROW(run_job(demo_workflow(1, 1, 1), JobOptions{}), InvalidArgumentError);
}

}  // namespace
}  // namespace hepinfer::framework
