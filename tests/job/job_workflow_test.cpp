// Reading the demo job's settings from workflow files: defaults, overrides and errors that name
// the file, line and field.

#include <gtest/gtest.h>

#include "error_message.h"
#include "hepinfer/core/error.h"
#include "job/job_workflow.h"

namespace hepinfer::framework {
namespace {

JobWorkflow parse(const std::string& text) {
  return job_workflow_from(framework::parse_workflow(text, "job.yaml"), "/models");
}

std::string error_for(const std::string& text) {
  return test::error_message_of<InvalidArgumentError>([&] { parse(text); });
}

TEST(JobWorkflow, TheEmbeddedDefaultHasThreeModuleKinds) {
  const JobWorkflow workflow = parse(std::string(default_workflow_yaml()));
  ASSERT_EQ(workflow.modules.size(), 3u);
  EXPECT_EQ(workflow.modules[0].kind, ModuleKind::kJetTagger);
  EXPECT_EQ(workflow.modules[0].mode, ExecutionMode::kAsync);
  EXPECT_TRUE(workflow.modules[0].batching);
  EXPECT_EQ(workflow.modules[0].model, std::filesystem::path("/models/jet_tagger/saved_model"));
  EXPECT_EQ(workflow.modules[1].kind, ModuleKind::kEventClassifier);
  EXPECT_EQ(workflow.modules[2].kind, ModuleKind::kParticleFlow);
  EXPECT_EQ(workflow.modules[2].split_rows, 1024);
  EXPECT_EQ(workflow.modules[2].claim.gpus, 0);
  EXPECT_EQ(workflow.job.events, 5000);
}

TEST(JobWorkflow, ReadsEverySetting) {
  const JobWorkflow workflow = parse(R"(
job: {events: 7, streams: 3, threads: 2, seed: 99}
modules:
  - name: tagger
    model: /abs/tagger.pb
    settings: {kind: jet_tagger, mode: async, batching: true, batch_rows: 32, batch_delay_us: 50,
               batches_in_flight: 2, split_rows: 16, cpu_memory_budget_mib: 64}
)");
  EXPECT_EQ(workflow.job.events, 7);
  EXPECT_EQ(workflow.job.streams, 3);
  EXPECT_EQ(workflow.job.threads, 2);
  EXPECT_EQ(workflow.job.seed, 99u);
  const ModuleSetup& tagger = workflow.modules.at(0);
  EXPECT_EQ(tagger.model, std::filesystem::path("/abs/tagger.pb"));
  EXPECT_EQ(tagger.batch_rows, 32);
  EXPECT_EQ(tagger.batch_delay, std::chrono::microseconds(50));
  EXPECT_EQ(tagger.batches_in_flight, 2);
  EXPECT_EQ(tagger.split_rows, 16);
  EXPECT_EQ(tagger.cpu_memory_budget_mib, 64);
}

TEST(JobWorkflow, DefaultsAreOneStreamPerThreadAndOneThreadPerCore) {
  const JobSettings settings = with_defaults(JobSettings{.threads = 3});
  EXPECT_EQ(settings.streams, 3);
  EXPECT_GE(with_defaults(JobSettings{}).threads, 1);
}

TEST(JobWorkflow, DisablingBatchingMakesEveryModuleSynchronous) {
  JobWorkflow workflow = parse(std::string(default_workflow_yaml()));
  disable_batching(workflow);
  for (const ModuleSetup& module : workflow.modules) {
    EXPECT_FALSE(module.batching);
    EXPECT_EQ(module.mode, ExecutionMode::kSync);
  }
}

TEST(JobWorkflow, ErrorsNameTheFileLineAndField) {
  const std::string head = "modules:\n  - name: m\n    model: m.pb\n";
  EXPECT_EQ(error_for(head + "    settings: {kind: tagger}\n"),
            "'job.yaml' line 4: modules[0].settings.kind: expected jet_tagger, event_classifier or particle_flow, got "
            "'tagger'");
  EXPECT_NE(error_for(head + "    settings: {kind: jet_tagger, mode: async}\n").find("async needs batching"),
            std::string::npos);
  EXPECT_NE(error_for(head + "    settings: {kind: jet_tagger, colour: red}\n").find("modules[0].settings.colour: unknown field"),
            std::string::npos);
  EXPECT_NE(error_for(head + "    settings: {kind: jet_tagger, batch_rows: 0}\n").find("expected at least 1, got 0"),
            std::string::npos);
  EXPECT_NE(error_for(head + "    settings: {kind: jet_tagger, batches_in_flight: 0}\n").find("expected at least 1, got 0"),
            std::string::npos);
  EXPECT_NE(error_for(head + "    settings: {kind: jet_tagger, split_rows: many}\n").find("expected an integer, got 'many'"),
            std::string::npos);
  EXPECT_NE(error_for(head + "    settings: {kind: jet_tagger, batching: maybe}\n").find("expected true or false"),
            std::string::npos);
  EXPECT_NE(error_for(head).find("modules[0].settings.kind: module 'm' needs a kind"), std::string::npos);
  EXPECT_NE(error_for("job: {events: -1}\n" + head + "    settings: {kind: jet_tagger}\n").find("job.events"),
            std::string::npos);
  EXPECT_NE(error_for("job: {streams: 0}\n" + head + "    settings: {kind: jet_tagger}\n").find("job.streams"),
            std::string::npos);
  EXPECT_NE(error_for("modules:\n  - name: m\n    settings: {kind: jet_tagger}\n").find("needs a model"),
            std::string::npos);
  EXPECT_NE(error_for(head + "    settings: {kind: [a, b]}\n").find("modules[0].settings.kind: expected jet_tagger"),
            std::string::npos);
}

TEST(JobWorkflow, EveryBooleanIsReadTheSameWay) {
  // One parser for the whole file: what a claim accepts as a boolean, the settings accept too.
  const JobWorkflow workflow = parse(
      "modules:\n  - name: m\n    model: m.pb\n    claim: {gpus: 1, cpu_fallback: yes}\n"
      "    settings: {kind: jet_tagger, mode: async, batching: yes}\n");
  EXPECT_TRUE(workflow.modules[0].claim.cpu_fallback);
  EXPECT_TRUE(workflow.modules[0].batching);
  EXPECT_EQ(workflow.modules[0].mode, ExecutionMode::kAsync);
}

TEST(JobWorkflow, PlanningNeedsNoSettingsButAJobNeedsAKind) {
  const std::string text = "modules:\n  - name: m\n    model: m.pb\n    claim: {gpus: 1}\n";
  const WorkflowConfig config = parse_workflow(text, "plan.yaml");
  EXPECT_EQ(config.claims().size(), 1u);
  EXPECT_FALSE(config.modules[0].kind.has_value());
  EXPECT_NE(error_for(text).find("'job.yaml' line 2: modules[0].settings.kind: module 'm' needs a kind"), std::string::npos)
      << error_for(text);
}

}  // namespace
}  // namespace hepinfer::framework
