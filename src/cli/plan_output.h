#pragma once
// The plan as `hepinfer plan` and `hepinfer run` show it, and where their GPU inventory comes from.

#include <ostream>
#include <string>

#include "hepinfer/scheduler/plan.h"
#include "nlohmann/json.hpp"

namespace hepinfer::cli {

nlohmann::json plan_json(const scheduler::Plan& plan);
// One line per module, one per GPU, then the reasons.
void print_plan(std::ostream& out, const scheduler::Plan& plan);

struct ChosenInventory {
  scheduler::Inventory inventory;
  std::string source;  // e.g. "this machine, 1 GPU(s)" or "gpus.yaml, 2 simulated GPU(s)"
};
// The simulated inventory in `inventory_file`, or the GPUs discovered on this machine if empty.
ChosenInventory choose_inventory(const std::string& inventory_file);
// Asks `servers` (a workflow's) which of the models the claims want served they have ready, and
// adds their answers to the inventory the plan is made from.
void add_server_offers(const std::vector<ServerPlacement>& servers, const std::vector<scheduler::Claim>& claims,
                       ChosenInventory& chosen);

}  // namespace hepinfer::cli
