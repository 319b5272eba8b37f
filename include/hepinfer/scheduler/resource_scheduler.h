#pragma once
// The scheduler as a framework uses it. Module constructors (possibly concurrently) call
// claim() and keep the ticket; the framework's begin-job step calls make_plan() once; then each
// module reads its Assignment from its ticket and loads its models with it.
//
//   // constructor
//   ticket_ = scheduler.claim({.module = "jet_tagger", .gpus = 1, .memory_mib = 2048});
//   // begin job, after scheduler.make_plan()
//   const Assignment& device = ticket_.assignment();   // devices empty: CPU
//
// A backend can follow the scheduler's life cycle through SchedulerHooks: the TensorFlow
// backend uses them to refuse sessions while claims are open and to take its process-wide GPU
// settings from the plan (see hepinfer/tensorflow/device_plan.h).

#include <functional>
#include <memory>
#include <string>

#include "hepinfer/scheduler/plan.h"

namespace hepinfer::scheduler {

// Hooks run under the scheduler's lock and must not call back into it. One that throws makes
// the triggering call fail with nothing changed.
struct SchedulerHooks {
  std::function<void()> claims_opened;              // before the first claim is recorded
  std::function<void(const Plan&)> plan_finalised;  // once, before make_plan fixes the plan
};

namespace detail {
struct SchedulerState;
}

// A module's handle on its claim; cheap to copy, valid after the scheduler is gone.
class ClaimTicket {
 public:
  const std::string& module() const { return module_; }
  bool ready() const;  // the plan is final
  // Throws FailedPreconditionError before the plan is final.
  const Assignment& assignment() const;

 private:
  friend class ResourceScheduler;
  ClaimTicket(std::shared_ptr<const detail::SchedulerState> state, std::string module)
      : state_(std::move(state)), module_(std::move(module)) {}
  std::shared_ptr<const detail::SchedulerState> state_;
  std::string module_;
};

class ResourceScheduler {
 public:
  explicit ResourceScheduler(Inventory inventory, PlanOptions options = {}, SchedulerHooks hooks = {});

  // Thread-safe. Throws InvalidArgumentError for a malformed claim or a module that already
  // claimed, FailedPreconditionError once the plan is final.
  ClaimTicket claim(Claim claim);

  // Fixes the plan from all claims so far. Later calls return the same plan. If planning fails
  // (ResourceExhaustedError) or a hook throws, nothing is fixed and claims stay open.
  const Plan& make_plan();

  bool planned() const;
  // Throws FailedPreconditionError before make_plan.
  const Plan& plan() const;

 private:
  std::shared_ptr<detail::SchedulerState> state_;
  SchedulerHooks hooks_;
};

}  // namespace hepinfer::scheduler
