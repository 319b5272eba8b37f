#pragma once
// Checks shared by planning and by ResourceScheduler::claim, which reports a malformed claim
// from the module's constructor rather than at begin job.

#include "hepinfer/scheduler/plan.h"

namespace hepinfer::scheduler {

// Throws InvalidArgumentError naming the module and the field.
void validate_claim(const Claim& claim);

}  // namespace hepinfer::scheduler
