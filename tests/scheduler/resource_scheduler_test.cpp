// The scheduler as a framework drives it: claims from module constructors (concurrently), one
// plan at begin job, each module's assignment read from its ticket, and the backend hooks.

#include "hepinfer/scheduler/resource_scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "error_message.h"
#include "hepinfer/core/error.h"

namespace hepinfer::scheduler {
namespace {

using ::testing::HasSubstr;

Inventory two_gpus() { return Inventory{{{0, "sim", 8000, 8000, ""}, {1, "sim", 8000, 8000, ""}}}; }

TEST(ResourceScheduler, ModulesReceiveTheirAssignmentsAfterThePlan) {
  ResourceScheduler scheduler(two_gpus(), {.policy = Policy::kSpread});
  ClaimTicket tagger = scheduler.claim({.module = "tagger", .gpus = 1, .memory_mib = 3000});
  ClaimTicket classifier = scheduler.claim({.module = "classifier", .gpus = 1, .memory_mib = 2000});
  ClaimTicket cpu = scheduler.claim({.module = "cpu_only", .gpus = 0});
  EXPECT_FALSE(tagger.ready());

  const Plan& plan = scheduler.make_plan();
  EXPECT_TRUE(tagger.ready());
  EXPECT_EQ(tagger.assignment().devices, std::vector<int>{0});
  EXPECT_EQ(tagger.assignment().memory_mib, std::vector<std::int64_t>{3000});
  EXPECT_EQ(classifier.assignment().devices, std::vector<int>{1}) << "spread puts it on the emptier GPU";
  EXPECT_TRUE(cpu.assignment().on_cpu());
  EXPECT_EQ(&scheduler.make_plan(), &plan) << "the plan is made once";
}

TEST(ResourceScheduler, AssignmentBeforeThePlanIsRefused) {
  ResourceScheduler scheduler(two_gpus());
  ClaimTicket ticket = scheduler.claim({.module = "tagger", .gpus = 1, .memory_mib = 100});
  const std::string message = test::error_message_of<FailedPreconditionError>([&] { (void)ticket.assignment(); });
  EXPECT_THAT(message, HasSubstr("tagger"));
  EXPECT_THAT(message, HasSubstr("make_plan"));
  EXPECT_THROW((void)scheduler.plan(), FailedPreconditionError);
}

TEST(ResourceScheduler, ClaimsAfterThePlanAreRefused) {
  ResourceScheduler scheduler(two_gpus());
  scheduler.claim({.module = "tagger", .gpus = 1, .memory_mib = 100});
  scheduler.make_plan();
  const std::string message =
      test::error_message_of<FailedPreconditionError>([&] { scheduler.claim({.module = "late", .gpus = 0}); });
  EXPECT_THAT(message, HasSubstr("late"));
}

TEST(ResourceScheduler, MalformedAndDuplicateClaimsFailInTheConstructor) {
  ResourceScheduler scheduler(two_gpus());
  scheduler.claim({.module = "tagger", .gpus = 1, .memory_mib = 100});
  EXPECT_THAT(test::error_message_of<InvalidArgumentError>([&] { scheduler.claim({.module = "tagger", .gpus = 0}); }),
              HasSubstr("twice"));
  EXPECT_THAT(test::error_message_of<InvalidArgumentError>([&] { scheduler.claim({.module = "nomem", .gpus = 1}); }),
              HasSubstr("nomem"));
  EXPECT_THROW(scheduler.claim({.module = "", .gpus = 0}), InvalidArgumentError);
  EXPECT_EQ(scheduler.make_plan().assignments.size(), 1u) << "rejected claims were not recorded";
}

TEST(ResourceScheduler, ConcurrentConstructorsAllGetAnAssignment) {
  ResourceScheduler scheduler(two_gpus());
  constexpr int kModules = 100;
  std::vector<std::optional<ClaimTicket>> tickets(kModules);
  std::vector<std::thread> constructors;
  for (int i = 0; i < kModules; ++i) {
    constructors.emplace_back([&, i] {
      tickets[i] = scheduler.claim({.module = "module" + std::to_string(i), .gpus = 1, .memory_mib = 200});
    });
  }
  for (auto& thread : constructors) thread.join();
  scheduler.make_plan();
  std::int64_t on_gpu = 0;
  for (const auto& ticket : tickets) {
    ASSERT_TRUE(ticket.has_value());
    if (!ticket->assignment().on_cpu()) on_gpu += ticket->assignment().memory_mib[0];
  }
  EXPECT_EQ(on_gpu, 2 * 8000) << "both GPUs filled exactly (80 claims of 200 MiB), the other 20 on CPU";
}

TEST(ResourceScheduler, FailedPlanningFixesNothing) {
  ResourceScheduler scheduler(two_gpus());
  ClaimTicket ticket = scheduler.claim({.module = "huge", .gpus = 1, .memory_mib = 9000, .cpu_fallback = false});
  EXPECT_THROW(scheduler.make_plan(), ResourceExhaustedError);
  EXPECT_FALSE(scheduler.planned());
  EXPECT_FALSE(ticket.ready());
}

TEST(ResourceScheduler, HooksFollowTheLifeCycle) {
  int opened = 0, finalised = 0;
  std::size_t planned_modules = 0;
  ResourceScheduler scheduler(two_gpus(), {},
                              {.claims_opened = [&] { ++opened; },
                               .plan_finalised = [&](const Plan& plan) {
                                 ++finalised;
                                 planned_modules = plan.assignments.size();
                               }});
  scheduler.claim({.module = "a", .gpus = 0});
  scheduler.claim({.module = "b", .gpus = 0});
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(finalised, 0);
  scheduler.make_plan();
  scheduler.make_plan();
  EXPECT_EQ(finalised, 1);
  EXPECT_EQ(planned_modules, 2u);
}

TEST(ResourceScheduler, AHookThatRefusesLeavesNothingChanged) {
  bool refuse = true;
  ResourceScheduler scheduler(two_gpus(), {},
                              {.claims_opened = [&] {
                                 if (refuse) throw FailedPreconditionError("backend not ready");
                               },
                               .plan_finalised = [&](const Plan&) {
                                 if (refuse) throw FailedPreconditionError("backend refuses the plan");
                               }});
  EXPECT_THROW(scheduler.claim({.module = "a", .gpus = 0}), FailedPreconditionError);
  refuse = false;
  scheduler.claim({.module = "a", .gpus = 0});  // the refused claim was not recorded
  refuse = true;
  EXPECT_THROW(scheduler.make_plan(), FailedPreconditionError);
  EXPECT_FALSE(scheduler.planned());
  refuse = false;
  EXPECT_EQ(scheduler.make_plan().assignments.size(), 1u);
}

TEST(ResourceScheduler, TicketsOutliveTheScheduler) {
  std::optional<ClaimTicket> ticket;
  {
    ResourceScheduler scheduler(two_gpus());
    ticket = scheduler.claim({.module = "tagger", .gpus = 1, .memory_mib = 100});
    scheduler.make_plan();
  }
  EXPECT_EQ(ticket->assignment().devices, std::vector<int>{0});
}

}  // namespace
}  // namespace hepinfer::scheduler
