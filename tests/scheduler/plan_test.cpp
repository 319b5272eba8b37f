// Planning on simulated inventories: exact allocations for hand-made scenarios, and invariants
// over random ones.

#include <gtest/gtest.h>

#include <random>

#include "error_message.h"
#include "hepinfer/core/error.h"
#include "hepinfer/scheduler/plan.h"

namespace hepinfer::scheduler {
namespace {

Inventory gpus_of(std::vector<std::int64_t> memory_mib) {
  Inventory inventory;
  for (std::size_t i = 0; i < memory_mib.size(); ++i) {
    inventory.gpus.push_back({static_cast<int>(i), "simulated", memory_mib[i], memory_mib[i], ""});
  }
  return inventory;
}

Claim gpu_claim(std::string module, int gpus, std::int64_t memory_mib, int priority = 0, bool fallback = true) {
  Claim claim;
  claim.module = std::move(module);
  claim.gpus = gpus;
  claim.memory_mib = memory_mib;
  claim.priority = priority;
  claim.cpu_fallback = fallback;
  return claim;
}

TEST(Plan, NoGpusSendsEveryFallbackClaimToCpu) {
  const Plan plan = make_plan({gpu_claim("tagger", 1, 2048), gpu_claim("classifier", 0, 0)}, gpus_of({}));
  EXPECT_TRUE(plan.for_module("tagger").on_cpu());
  EXPECT_NE(plan.for_module("tagger").reason.find("fell back to CPU"), std::string::npos);
  EXPECT_EQ(plan.for_module("classifier").reason, "CPU-only claim");
  EXPECT_TRUE(plan.gpus.empty());
}

TEST(Plan, OneGpuWithHeadroom) {
  PlanOptions options;
  options.headroom_mib = 1024;
  const Plan plan = make_plan({gpu_claim("a", 1, 4096), gpu_claim("b", 1, 3000), gpu_claim("c", 1, 2048)},
                              gpus_of({8192}), options);
  EXPECT_EQ(plan.for_module("a").devices, std::vector<int>{0});
  EXPECT_EQ(plan.for_module("a").memory_mib, std::vector<std::int64_t>{4096});
  EXPECT_EQ(plan.for_module("b").devices, std::vector<int>{0});
  EXPECT_TRUE(plan.for_module("c").on_cpu()) << "7168 usable, 7096 taken";
  EXPECT_EQ(plan.gpus[0].capacity_mib, 7168);
  EXPECT_EQ(plan.gpus[0].assigned_mib, 7096);
}

TEST(Plan, PackFillsGpusInOrder) {
  const Plan plan = make_plan({gpu_claim("a", 1, 3000), gpu_claim("b", 1, 3000), gpu_claim("c", 1, 3000)},
                              gpus_of({8000, 8000, 8000, 8000}));
  EXPECT_EQ(plan.for_module("a").devices, std::vector<int>{0});
  EXPECT_EQ(plan.for_module("b").devices, std::vector<int>{0});
  EXPECT_EQ(plan.for_module("c").devices, std::vector<int>{1});
}

TEST(Plan, SpreadBalancesMemory) {
  PlanOptions options;
  options.policy = Policy::kSpread;
  const Plan plan = make_plan({gpu_claim("a", 1, 3000), gpu_claim("b", 1, 3000), gpu_claim("c", 1, 3000),
                               gpu_claim("d", 1, 1000), gpu_claim("e", 1, 1000)},
                              gpus_of({8000, 8000, 8000, 8000}), options);
  EXPECT_EQ(plan.for_module("a").devices, std::vector<int>{0});
  EXPECT_EQ(plan.for_module("b").devices, std::vector<int>{1});
  EXPECT_EQ(plan.for_module("c").devices, std::vector<int>{2});
  EXPECT_EQ(plan.for_module("d").devices, std::vector<int>{3});
  EXPECT_EQ(plan.for_module("e").devices, std::vector<int>{3}) << "GPU 3 holds least memory";
}

TEST(Plan, SpreadBreaksTiesByExpectedLoad) {
  PlanOptions options;
  options.policy = Policy::kSpread;
  Claim busy = gpu_claim("busy", 1, 0);
  busy.memory_per_gpu_mib = 1000;
  busy.expected_calls_per_second = 500;
  Claim idle = gpu_claim("idle", 1, 0);
  idle.memory_per_gpu_mib = 1000;
  Claim next = gpu_claim("next", 1, 1000);
  next.memory_mib = 0;
  next.memory_per_gpu_mib = 1000;
  const Plan plan = make_plan({busy, idle, next}, gpus_of({4000, 4000, 4000}), options);
  EXPECT_EQ(plan.for_module("busy").devices, std::vector<int>{0});
  EXPECT_EQ(plan.for_module("idle").devices, std::vector<int>{1});
  EXPECT_EQ(plan.for_module("next").devices, std::vector<int>{2});
}

TEST(Plan, MultiGpuClaimSplitsTotalMemory) {
  const Plan plan = make_plan({gpu_claim("wide", 2, 5000)}, gpus_of({4000, 4000, 4000}));
  EXPECT_EQ(plan.for_module("wide").devices, (std::vector<int>{0, 1}));
  EXPECT_EQ(plan.for_module("wide").memory_mib, (std::vector<std::int64_t>{2500, 2500}));
}

TEST(Plan, HigherPriorityIsServedFirstAndLowerFallsBack) {
  const Plan plan = make_plan({gpu_claim("low", 1, 6000, /*priority=*/0), gpu_claim("high", 1, 6000, /*priority=*/5)},
                              gpus_of({8000}));
  EXPECT_EQ(plan.for_module("high").devices, std::vector<int>{0});
  EXPECT_TRUE(plan.for_module("low").on_cpu());
  EXPECT_EQ(plan.assignments[0].module, "low") << "assignments keep the claims' order";
}

TEST(Plan, PreferredDevicesAreHonoured) {
  Claim claim = gpu_claim("pinned", 0, 0);
  claim.preferred = {2, 3};
  claim.memory_per_gpu_mib = 1000;
  const Plan plan = make_plan({claim}, gpus_of({4000, 4000, 4000, 4000}));
  EXPECT_EQ(plan.for_module("pinned").devices, (std::vector<int>{2, 3}));
}

TEST(Plan, PreferredDeviceMissingFallsBackOrFails) {
  Claim claim = gpu_claim("pinned", 0, 0);
  claim.preferred = {7};
  claim.memory_per_gpu_mib = 1000;
  EXPECT_TRUE(make_plan({claim}, gpus_of({4000})).for_module("pinned").on_cpu());
  claim.cpu_fallback = false;
  const auto message = test::error_message_of<ResourceExhaustedError>([&] { make_plan({claim}, gpus_of({4000})); });
  EXPECT_NE(message.find("GPU(s) 7"), std::string::npos) << message;
}

TEST(Plan, ImpossibleClaimWithoutFallbackNamesModuleAskAndFree) {
  const auto message = test::error_message_of<ResourceExhaustedError>(
      [] { make_plan({gpu_claim("first", 1, 5000), gpu_claim("greedy", 1, 6000, 0, false)}, gpus_of({8000})); });
  EXPECT_NE(message.find("'greedy'"), std::string::npos) << message;
  EXPECT_NE(message.find("6000 MiB"), std::string::npos) << message;
  EXPECT_NE(message.find("GPU 0: 3000 MiB"), std::string::npos) << message;
}

TEST(Plan, MalformedClaimsAreRejected) {
  const Inventory inventory = gpus_of({8000});
  EXPECT_THROW(make_plan({gpu_claim("a", 1, 100), gpu_claim("a", 1, 100)}, inventory), InvalidArgumentError);
  EXPECT_THROW(make_plan({gpu_claim("", 1, 100)}, inventory), InvalidArgumentError);
  EXPECT_THROW(make_plan({gpu_claim("zero", 1, 0)}, inventory), InvalidArgumentError);
  EXPECT_THROW(make_plan({gpu_claim("negative", 1, -5)}, inventory), InvalidArgumentError);
  EXPECT_THROW(make_plan({gpu_claim("absurd", 1, std::int64_t{1} << 40)}, inventory), InvalidArgumentError);
  EXPECT_THROW(make_plan({gpu_claim("minus", -1, 100)}, inventory), InvalidArgumentError);
  Claim both = gpu_claim("both", 1, 100);
  both.memory_per_gpu_mib = 100;
  EXPECT_THROW(make_plan({both}, inventory), InvalidArgumentError);
  PlanOptions options;
  options.headroom_mib = -1;
  EXPECT_THROW(make_plan({}, inventory, options), InvalidArgumentError);
  EXPECT_THROW(make_plan({}, Inventory{{{0, "x", 100, 100, ""}, {0, "y", 100, 100, ""}}}), InvalidArgumentError);
}

TEST(Plan, WarnsWhenATypicalBatchWouldNotFit) {
  Claim fits{.module = "fits", .gpus = 1, .memory_mib = 1000, .typical_batch_size = 100, .memory_per_sample_mib = 5};
  Claim too_big = fits;
  too_big.module = "too_big";
  too_big.typical_batch_size = 1000;
  const Plan plan = make_plan({fits, too_big}, gpus_of({8000}));
  EXPECT_EQ(plan.for_module("fits").reason.find("will be split"), std::string::npos);
  EXPECT_NE(plan.for_module("too_big").reason.find("needs 5000 MiB, more than the 1000 MiB per GPU"), std::string::npos)
      << plan.for_module("too_big").reason;
  too_big.typical_batch_size = -1;
  EXPECT_THROW(make_plan({too_big}, gpus_of({8000})), InvalidArgumentError);
}

TEST(Plan, IsDeterministicAndExplainsItself) {
  const std::vector<Claim> claims = {gpu_claim("a", 1, 3000), gpu_claim("b", 2, 4000, 1)};
  const Plan first = make_plan(claims, gpus_of({8000, 8000}));
  const Plan second = make_plan(claims, gpus_of({8000, 8000}));
  EXPECT_EQ(first.explain(), second.explain());
  EXPECT_NE(first.explain().find("b -> GPU 0 (2000 MiB), GPU 1 (2000 MiB)"), std::string::npos) << first.explain();
  EXPECT_THROW(first.for_module("nobody"), NotFoundError);
}

TEST(Plan, InvariantsHoldForRandomClaimsAndInventories) {
  std::mt19937 rng(20261126);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::int64_t> memory(rng() % 5);
    for (auto& mib : memory) mib = 1000 + static_cast<std::int64_t>(rng() % 16000);
    const Inventory inventory = gpus_of(memory);
    PlanOptions options;
    options.policy = rng() % 2 ? Policy::kPack : Policy::kSpread;
    options.headroom_mib = static_cast<std::int64_t>(rng() % 2000);
    std::vector<Claim> claims;
    const int count = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < count; ++i) {
      std::string name = "m";
      name.append(std::to_string(i));
      claims.push_back(gpu_claim(std::move(name), static_cast<int>(rng() % 3),
                                 1 + static_cast<std::int64_t>(rng() % 9000), static_cast<int>(rng() % 3), true));
    }
    // An identical pair at different priorities: the higher one is never worse off.
    Claim twin_low = gpu_claim("twin_low", 1, 2000, 0), twin_high = gpu_claim("twin_high", 1, 2000, 3);
    claims.push_back(twin_low);
    claims.push_back(twin_high);

    const Plan plan = make_plan(claims, inventory, options);
    ASSERT_EQ(plan.assignments.size(), claims.size());
    for (const GpuUsage& gpu : plan.gpus) {
      EXPECT_LE(gpu.assigned_mib, gpu.capacity_mib) << "trial " << trial;
    }
    for (std::size_t i = 0; i < claims.size(); ++i) {
      const Assignment& assignment = plan.assignments[i];
      EXPECT_EQ(assignment.module, claims[i].module);
      EXPECT_FALSE(assignment.reason.empty());
      if (!assignment.on_cpu()) {
        EXPECT_EQ(static_cast<int>(assignment.devices.size()), claims[i].gpus);
      }
    }
    if (plan.for_module("twin_high").on_cpu()) {
      EXPECT_TRUE(plan.for_module("twin_low").on_cpu()) << "trial " << trial << "\n" << plan.explain();
    }
  }
}


// Servers: offers as the job's probe found them; planning itself never touches the network.
ServerOffer offer(std::string name, bool live, std::vector<ServedModel> ready) {
  return {.name = name, .url = "http://" + name + ":8000", .live = live, .ready_models = std::move(ready),
          .note = live ? "" : "connect: Connection refused"};
}

Claim remote_claim(std::string module, RemotePolicy policy, ServedModel served, double calls = 0) {
  Claim claim = gpu_claim(std::move(module), 1, 1024);
  claim.remote = policy;
  claim.served_model = std::move(served);
  claim.expected_calls_per_second = calls;
  return claim;
}

TEST(PlanServers, PreferPutsModulesOnServersSpreadByExpectedCalls) {
  Inventory inventory = gpus_of({4096});
  inventory.servers = {offer("a", true, {"tagger", "flow"}), offer("b", true, {"tagger"}), offer("c", false, {})};
  const Plan plan = make_plan({remote_claim("t1", RemotePolicy::kPrefer, "tagger", 300),
                               remote_claim("t2", RemotePolicy::kPrefer, "tagger", 100),
                               remote_claim("f", RemotePolicy::kPrefer, "flow", 50)},
                              inventory);
  const Assignment& t1 = plan.for_module("t1");
  ASSERT_TRUE(t1.on_server());
  EXPECT_EQ(t1.servers.front().name, "a");
  EXPECT_EQ(t1.servers.back().name, "b") << "the other server that has it ready is the failover";
  EXPECT_EQ(t1.served_model, "tagger");
  EXPECT_TRUE(t1.local_fallback);
  EXPECT_TRUE(t1.devices.empty()) << "a module on a server holds no GPU";
  EXPECT_EQ(plan.for_module("t2").servers.front().name, "b") << "b had fewer expected calls";
  EXPECT_EQ(plan.for_module("f").servers.size(), 1u);
  EXPECT_EQ(plan.gpus.at(0).assigned_mib, 0);
  ASSERT_EQ(plan.servers.size(), 3u);
  EXPECT_EQ(plan.servers[0].modules, 2);
  EXPECT_DOUBLE_EQ(plan.servers[0].expected_calls, 350);
  EXPECT_FALSE(plan.servers[2].live);
  EXPECT_NE(plan.explain().find("t1 -> server a ('tagger')"), std::string::npos) << plan.explain();
  EXPECT_NE(t1.reason.find("failover: b"), std::string::npos) << t1.reason;
}

TEST(PlanServers, PreferFallsBackToTheLocalClaimAndSaysWhy) {
  Inventory inventory = gpus_of({4096});
  inventory.servers = {offer("a", true, {"other"}), offer("dead", false, {})};
  const Plan plan = make_plan({remote_claim("t", RemotePolicy::kPrefer, "tagger")}, inventory);
  const Assignment& t = plan.for_module("t");
  EXPECT_FALSE(t.on_server());
  EXPECT_EQ(t.devices, std::vector<int>{0});
  EXPECT_NE(t.reason.find("no server has 'tagger' ready (a: live, model not ready; dead: not answering"),
            std::string::npos)
      << t.reason;
}

TEST(PlanServers, OnlyFailsWithoutAServerAndHasNoLocalFallback) {
  Inventory inventory = gpus_of({4096});
  inventory.servers = {offer("a", true, {"flow"})};
  const std::string message =
      test::error_message_of<ResourceExhaustedError>([&] { make_plan({remote_claim("t", RemotePolicy::kOnly, "tagger")}, inventory); });
  EXPECT_NE(message.find("module 't' may only run on a server"), std::string::npos) << message;
  const Plan plan = make_plan({remote_claim("f", RemotePolicy::kOnly, "flow")}, inventory);
  EXPECT_FALSE(plan.for_module("f").local_fallback);
}

TEST(PlanServers, APinnedVersionGoesOnlyToServersThatHaveThatVersionReady) {
  Inventory inventory = gpus_of({4096});
  inventory.servers = {offer("latest_only", true, {"tagger"}), offer("pinned", true, {{"tagger", "3"}}),
                       offer("other_version", true, {{"tagger", "2"}})};
  const Plan plan = make_plan({remote_claim("v3", RemotePolicy::kOnly, {"tagger", "3"}),
                               remote_claim("any", RemotePolicy::kOnly, "tagger")},
                              inventory);
  const Assignment& v3 = plan.for_module("v3");
  ASSERT_EQ(v3.servers.size(), 1u);
  EXPECT_EQ(v3.servers.front().name, "pinned");
  EXPECT_EQ(v3.served_model, ServedModel("tagger", "3"));
  EXPECT_NE(plan.explain().find("v3 -> server pinned ('tagger' version 3)"), std::string::npos) << plan.explain();
  EXPECT_EQ(plan.for_module("any").servers.front().name, "latest_only");

  inventory.servers = {offer("latest_only", true, {"tagger"})};
  const std::string message = test::error_message_of<ResourceExhaustedError>(
      [&] { make_plan({remote_claim("v3", RemotePolicy::kOnly, {"tagger", "3"})}, inventory); });
  EXPECT_NE(message.find("no server has 'tagger' version 3 ready"), std::string::npos) << message;
}

TEST(PlanServers, NeverIgnoresServersAndClaimsAreChecked) {
  Inventory inventory = gpus_of({4096});
  inventory.servers = {offer("a", true, {"tagger"})};
  Claim local = gpu_claim("t", 1, 1024);
  local.served_model = "tagger";
  EXPECT_FALSE(make_plan({local}, inventory).for_module("t").on_server());
  EXPECT_THROW(make_plan({remote_claim("t", RemotePolicy::kPrefer, "")}, inventory), InvalidArgumentError);
  inventory.servers.push_back(offer("a", true, {}));
  EXPECT_THROW(make_plan({local}, inventory), InvalidArgumentError) << "server listed twice";
  EXPECT_EQ(parse_remote_policy("only"), RemotePolicy::kOnly);
  EXPECT_FALSE(parse_remote_policy("sometimes"));
}

}  // namespace
}  // namespace hepinfer::scheduler
