// From the scheduler's plan to TensorFlow: the generated GPU configuration, field by field, for
// many plans (no GPU is needed to check it), and the process life cycle on this CPU machine:
// sessions refused while claims are open, modules placed by the plan loading and running their
// models. ctest runs each test in its own process, so each starts with a fresh TF runtime.

#include "hepinfer/tensorflow/device_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "google/protobuf/text_format.h"
#include "error_message.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"
#include "job/workflow_file.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "tensor_matchers.h"
#include "tensorflow/core/protobuf/config.pb.h"
#include "test_models.h"

namespace hepinfer::tf {
namespace {

using ::testing::HasSubstr;
using scheduler::Assignment;
using scheduler::Claim;
using scheduler::Plan;

tensorflow::ConfigProto parse_config(const GpuSettings& settings, const std::string& device) {
  tensorflow::ConfigProto config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(session_config_text(settings, device), &config));
  return config;
}

int gpu_count_of(const tensorflow::ConfigProto& config) {
  const auto found = config.device_count().find("GPU");
  return found == config.device_count().end() ? -1 : found->second;  // -1: not limited
}

std::vector<float> limits_of(const tensorflow::ConfigProto& config, int visible_index) {
  const auto& limits = config.gpu_options().experimental().virtual_devices(visible_index).memory_limit_mb();
  return {limits.begin(), limits.end()};
}

scheduler::Inventory gpus(std::vector<std::int64_t> memory) {
  scheduler::Inventory inventory;
  for (std::size_t i = 0; i < memory.size(); ++i) {
    inventory.gpus.push_back({static_cast<int>(i), "sim", memory[i], memory[i], ""});
  }
  return inventory;
}

TEST(GpuSettings, MapsAPlanToVirtualDevicesField_by_field) {
  // a and b share GPU 0; d spans GPUs 1 and 3; c is alone on 2; e is on CPU.
  const Plan plan = scheduler::make_plan({{.module = "a", .preferred = {0}, .memory_mib = 1000},
                                          {.module = "b", .preferred = {0}, .memory_mib = 2000},
                                          {.module = "c", .preferred = {2}, .memory_mib = 500},
                                          {.module = "d", .preferred = {1, 3}, .memory_per_gpu_mib = 700},
                                          {.module = "e", .gpus = 0}},
                                         gpus({4000, 4000, 4000, 4000}));
  const GpuSettings settings = gpu_settings_for(plan);
  EXPECT_EQ(settings.visible_device_list(), "0,1,2,3");
  ASSERT_EQ(settings.memory_limits_mib.size(), 4u);
  EXPECT_EQ(settings.memory_limits_mib[0], (std::vector<std::int64_t>{1000, 2000}));
  EXPECT_EQ(settings.memory_limits_mib[1], (std::vector<std::int64_t>{700}));
  EXPECT_EQ(settings.memory_limits_mib[2], (std::vector<std::int64_t>{500}));
  EXPECT_EQ(settings.memory_limits_mib[3], (std::vector<std::int64_t>{700}));
  // TF numbers logical GPUs physical GPU by physical GPU.
  EXPECT_EQ(settings.device_for(plan.for_module("a")), "/device:GPU:0");
  EXPECT_EQ(settings.device_for(plan.for_module("b")), "/device:GPU:1");
  EXPECT_EQ(settings.device_for(plan.for_module("d"), 0), "/device:GPU:2");
  EXPECT_EQ(settings.device_for(plan.for_module("c")), "/device:GPU:3");
  EXPECT_EQ(settings.device_for(plan.for_module("d"), 1), "/device:GPU:4");
  EXPECT_EQ(settings.device_for(plan.for_module("e")), "/device:CPU:0");
  EXPECT_THROW(settings.device_for(plan.for_module("a"), 1), NotFoundError);

  const tensorflow::ConfigProto gpu_session = parse_config(settings, "/device:GPU:1");
  const tensorflow::GPUOptions& options = gpu_session.gpu_options();
  EXPECT_EQ(options.visible_device_list(), "0,1,2,3");
  EXPECT_TRUE(options.allow_growth());
  ASSERT_EQ(options.experimental().virtual_devices_size(), 4);
  EXPECT_EQ(limits_of(gpu_session, 0), (std::vector<float>{1000, 2000}));
  EXPECT_EQ(limits_of(gpu_session, 1), (std::vector<float>{700}));
  EXPECT_EQ(limits_of(gpu_session, 2), (std::vector<float>{500}));
  EXPECT_EQ(limits_of(gpu_session, 3), (std::vector<float>{700}));
  EXPECT_EQ(gpu_count_of(gpu_session), -1);
  EXPECT_EQ(gpu_session.inter_op_parallelism_threads(), 1);
  EXPECT_EQ(gpu_session.intra_op_parallelism_threads(), 1);
  EXPECT_TRUE(gpu_session.allow_soft_placement());

  const tensorflow::ConfigProto cpu_session = parse_config(settings, "/device:CPU:0");
  EXPECT_EQ(gpu_count_of(cpu_session), 0) << "CPU modules see no GPU";
  EXPECT_EQ(cpu_session.gpu_options().SerializeAsString(), options.SerializeAsString())
      << "but the process-wide GPU options are the same for every session";
}

TEST(GpuSettings, UnusedGpusAreNotVisible) {
  const Plan plan = scheduler::make_plan({{.module = "only", .preferred = {2}, .memory_mib = 100}},
                                         gpus({1000, 1000, 1000}));
  const GpuSettings settings = gpu_settings_for(plan);
  EXPECT_EQ(settings.visible_device_list(), "2");
  EXPECT_EQ(settings.device_for(plan.for_module("only")), "/device:GPU:0") << "the only visible GPU";
}

TEST(GpuSettings, APlanWithoutGpuModulesHidesEveryGpu) {
  for (const auto& inventory : {gpus({}), gpus({1000, 1000})}) {
    const Plan plan = scheduler::make_plan({{.module = "cpu", .gpus = 0},
                                            {.module = "fell_back", .gpus = 1, .memory_mib = 5000}},
                                           inventory);
    const GpuSettings settings = gpu_settings_for(plan);
    EXPECT_TRUE(settings.visible_gpu_ids.empty());
    for (const Assignment& assignment : plan.assignments) {
      const tensorflow::ConfigProto config = parse_config(settings, settings.device_for(assignment));
      EXPECT_EQ(gpu_count_of(config), 0) << assignment.module << ": TF reads an empty list as every GPU";
      EXPECT_EQ(config.gpu_options().experimental().virtual_devices_size(), 0);
    }
  }
}

TEST(GpuSettings, AnAssignmentFromAnotherPlanIsRejected) {
  const Plan plan = scheduler::make_plan({{.module = "a", .gpus = 1, .memory_mib = 100}}, gpus({1000}));
  const GpuSettings settings = gpu_settings_for(plan);
  Assignment stranger{{.module = "stranger", .devices = {0}, .memory_mib = {100}}};
  EXPECT_THAT([&] { settings.device_for(stranger); }, ::testing::Throws<NotFoundError>());
}

// Invariants of the mapping over many random plans.
TEST(GpuSettings, EveryRandomPlanMapsConsistently) {
  std::mt19937 random(20261126);
  int plans = 0;
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<std::int64_t> memory(std::uniform_int_distribution<int>(0, 5)(random));
    for (auto& mib : memory) mib = std::uniform_int_distribution<std::int64_t>(1000, 80000)(random);
    std::vector<Claim> claims;
    const int modules = std::uniform_int_distribution<int>(1, 12)(random);
    for (int m = 0; m < modules; ++m) {
      Claim claim{.module = "module" + std::to_string(m)};
      claim.gpus = std::uniform_int_distribution<int>(0, 3)(random);
      claim.memory_mib = claim.gpus > 0 ? std::uniform_int_distribution<std::int64_t>(1, 30000)(random) : 0;
      claim.priority = std::uniform_int_distribution<int>(0, 2)(random);
      claims.push_back(claim);
    }
    const Plan plan = scheduler::make_plan(claims, gpus(memory), {.headroom_mib = 500});
    ++plans;
    const GpuSettings settings = gpu_settings_for(plan);
    std::size_t placements = 0;
    for (const Assignment& assignment : plan.assignments) placements += assignment.devices.size();
    ASSERT_EQ(settings.virtual_gpus.size(), placements);

    std::string shared_gpu_options;
    for (const Assignment& assignment : plan.assignments) {
      for (std::size_t i = 0; i < std::max<std::size_t>(1, assignment.devices.size()); ++i) {
        const std::string device = settings.device_for(assignment, i);
        const tensorflow::ConfigProto config = parse_config(settings, device);
        if (shared_gpu_options.empty()) shared_gpu_options = config.gpu_options().SerializeAsString();
        EXPECT_EQ(config.gpu_options().SerializeAsString(), shared_gpu_options);
        if (assignment.on_cpu()) {
          EXPECT_EQ(device, "/device:CPU:0");
          EXPECT_EQ(gpu_count_of(config), 0);
          continue;
        }
        // The logical device belongs to this module, sits on the planned GPU and has its memory.
        const int logical = std::stoi(device.substr(std::string("/device:GPU:").size()));
        const VirtualGpu& virtual_gpu = settings.virtual_gpus.at(logical);
        EXPECT_EQ(virtual_gpu.module, assignment.module);
        EXPECT_EQ(virtual_gpu.gpu_id, assignment.devices[i]);
        EXPECT_EQ(virtual_gpu.memory_limit_mib, assignment.memory_mib[i]);
      }
    }
    // Per visible GPU, the virtual devices add up to what the plan assigned there.
    for (std::size_t v = 0; v < settings.visible_gpu_ids.size(); ++v) {
      std::int64_t sum = 0;
      for (std::int64_t limit : settings.memory_limits_mib[v]) sum += limit;
      for (const scheduler::GpuUsage& usage : plan.gpus) {
        if (usage.id == settings.visible_gpu_ids[v]) {
          EXPECT_EQ(sum, usage.assigned_mib);
        }
      }
      EXPECT_FALSE(settings.memory_limits_mib[v].empty());
    }
    for (std::size_t k = 0; k < settings.virtual_gpus.size(); ++k) EXPECT_EQ(settings.virtual_gpus[k].logical_index, k);
  }
  EXPECT_EQ(plans, 500);
}

// --- The process life cycle -------------------------------------------------------------------

TEST(DevicePlanLifeCycle, LoadingWhileClaimsAreOpenIsRefused) {
  scheduler::ResourceScheduler scheduler(gpus({16000}), {}, runtime_hooks());
  scheduler.claim({.module = "tagger", .gpus = 1, .memory_mib = 2000});
  const std::string path = test::test_model("mlp").formats.at("frozen_graph").path;
  const std::string message = test::error_message_of<FailedPreconditionError>([&] { load_model(path); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("make_plan"));

  scheduler.make_plan();
  EXPECT_NO_THROW(load_model(path, {.placement = scheduler.plan().for_module("tagger")}));
}

TEST(DevicePlanLifeCycle, ClaimsAfterASessionExistsAreRefused) {
  const std::string path = test::test_model("mlp").formats.at("frozen_graph").path;
  load_model(path);  // fixes TF's GPU settings to its defaults
  scheduler::ResourceScheduler scheduler(gpus({16000}), {}, runtime_hooks());
  const std::string message = test::error_message_of<FailedPreconditionError>(
      [&] { scheduler.claim({.module = "tagger", .gpus = 1, .memory_mib = 2000}); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("before any module claimed"));
}

TEST(DevicePlanLifeCycle, OnePlanPerProcess) {
  const Plan plan = scheduler::make_plan({{.module = "a", .gpus = 0}}, gpus({}));
  apply_device_plan(plan);
  EXPECT_THROW(apply_device_plan(plan), FailedPreconditionError);
  EXPECT_THROW(await_device_plan(), FailedPreconditionError);
}

TEST(DevicePlanLifeCycle, AGpuAssignmentNeedsAnAppliedPlan) {
  const Assignment on_gpu{{.module = "tagger", .devices = {0}, .memory_mib = {1000}}};
  const std::string path = test::test_model("mlp").formats.at("frozen_graph").path;
  const std::string message =
      test::error_message_of<FailedPreconditionError>([&] { load_model(path, {.placement = on_gpu}); });
  EXPECT_THAT(message, HasSubstr("tagger"));
  EXPECT_THAT(message, HasSubstr("no device plan"));
  // A CPU assignment needs no plan.
  const Assignment on_cpu{{.module = "tagger"}};
  EXPECT_EQ(load_model(path, {.placement = on_cpu})->info().device, "/device:CPU:0");
}

// A workflow as a framework runs it: modules claim in their constructors, the plan is made at
// begin job (here it puts two modules on CPU and one on the simulated GPU), each module loads its
// model with its assignment, and every model agrees with Python TensorFlow.
TEST(DevicePlanLifeCycle, ModulesPlacedByThePlanRunTheirModels) {
  const framework::WorkflowConfig workflow = framework::parse_workflow(R"(
policy: pack
headroom_mib: 500
modules:
  - name: event_classifier
    model: mlp
    claim: {gpus: 0}
  - name: image_tagger
    model: cnn
    claim: {gpus: 1, memory_mib: 6000, cpu_fallback: true}
  - name: jet_tagger
    model: multi_io
    claim: {gpus: 1, memory_mib: 3000, priority: 1}
)",
                                                                       "workflow");
  scheduler::ResourceScheduler scheduler(gpus({4000}), workflow.plan, runtime_hooks());
  std::vector<scheduler::ClaimTicket> tickets;
  for (const auto& module : workflow.modules) tickets.push_back(scheduler.claim(module.claim));  // constructors

  scheduler.make_plan();  // begin job
  EXPECT_TRUE(tickets[0].assignment().on_cpu());
  EXPECT_TRUE(tickets[1].assignment().on_cpu()) << "6000 MiB do not fit in 3500 after headroom";
  EXPECT_EQ(tickets[2].assignment().devices, std::vector<int>{0});

  for (std::size_t m = 0; m < workflow.modules.size(); ++m) {
    SCOPED_TRACE(workflow.modules[m].name);
    const test::TestModel& family = test::test_model(workflow.modules[m].model);
    const std::string format = m == 1 ? "frozen_graph" : "saved_model";
    const auto model = load_model(family.formats.at(format).path, {.placement = tickets[m].assignment()});
    // The CPU-only TensorFlow wheel has no GPU, so the GPU module's session falls back to CPU and
    // says so; on a GPU build it is /device:GPU:0.
    EXPECT_EQ(model->info().device, "/device:CPU:0");
    for (const test::ReferenceCase& reference : family.cases) {
      const auto outputs = model->run(test::reference_inputs(family, format, reference), test::output_names(family, format));
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        EXPECT_TENSORS_MATCH(outputs[i], read_npy(reference.outputs.at(family.outputs[i])), family.tolerance);
      }
    }
  }
  // A model loaded without an assignment after the plan is on CPU: the plan owns the GPUs.
  EXPECT_EQ(load_model(test::test_model("mlp").formats.at("frozen_graph").path)->info().device, "/device:CPU:0");
}

}  // namespace
}  // namespace hepinfer::tf
