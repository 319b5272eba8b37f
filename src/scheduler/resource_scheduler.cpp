#include "hepinfer/scheduler/resource_scheduler.h"

#include <mutex>
#include <optional>

#include "claim_validation.h"
#include "hepinfer/core/error.h"

namespace hepinfer::scheduler {
namespace detail {

struct SchedulerState {
  mutable std::mutex mutex;
  Inventory inventory;
  PlanOptions options;
  std::vector<Claim> claims;
  // Written once under `mutex`; readers that saw `planned` true may read it without the lock.
  std::optional<Plan> plan;
  bool planned = false;

  bool is_planned() const {
    std::lock_guard lock(mutex);
    return planned;
  }
  const Plan& final_plan(const std::string& who) const {
    if (!is_planned()) {
      throw FailedPreconditionError(who + ": the device plan is not final yet; it is made once all modules have "
                                          "claimed (ResourceScheduler::make_plan, at begin job)");
    }
    return *plan;
  }
};

}  // namespace detail

bool ClaimTicket::ready() const { return state_->is_planned(); }

const Assignment& ClaimTicket::assignment() const {
  return state_->final_plan("module '" + module_ + "'").for_module(module_);
}

ResourceScheduler::ResourceScheduler(Inventory inventory, PlanOptions options, SchedulerHooks hooks)
    : state_(std::make_shared<detail::SchedulerState>()), hooks_(std::move(hooks)) {
  state_->inventory = std::move(inventory);
  state_->options = options;
}

ClaimTicket ResourceScheduler::claim(Claim claim) {
  validate_claim(claim);
  std::lock_guard lock(state_->mutex);
  if (state_->planned) {
    throw FailedPreconditionError("module '" + claim.module +
                                  "' claims resources after the device plan was made; claims belong in "
                                  "module constructors, before begin job");
  }
  for (const Claim& earlier : state_->claims) {
    if (earlier.module == claim.module) {
      throw InvalidArgumentError("module '" + claim.module + "' claims resources twice");
    }
  }
  // A hook that throws leaves the claim unmade.
  if (state_->claims.empty() && hooks_.claims_opened) hooks_.claims_opened();
  state_->claims.push_back(claim);
  return ClaimTicket(state_, claim.module);
}

const Plan& ResourceScheduler::make_plan() {
  std::lock_guard lock(state_->mutex);
  if (state_->planned) return *state_->plan;
  Plan plan = scheduler::make_plan(state_->claims, state_->inventory, state_->options);
  // A hook that throws (the backend cannot take this plan) leaves nothing fixed.
  if (hooks_.plan_finalised) hooks_.plan_finalised(plan);
  state_->plan = std::move(plan);
  state_->planned = true;
  return *state_->plan;
}

bool ResourceScheduler::planned() const { return state_->is_planned(); }

const Plan& ResourceScheduler::plan() const { return state_->final_plan("the resource scheduler"); }

}  // namespace hepinfer::scheduler
