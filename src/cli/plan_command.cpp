// `hepinfer plan WORKFLOW.yaml [--inventory INV.yaml] [--policy P] [--json]`: how the scheduler
// would divide the GPUs among the workflow's modules, and why. Needs no TensorFlow.

#include <iostream>

#include "commands.h"
#include "job/workflow_file.h"
#include "plan_output.h"

namespace hepinfer::cli {

void add_plan_command(CLI::App& app) {
  struct Options {
    std::string workflow;
    std::string inventory;
    std::string policy;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("plan", "Divide the GPUs among a workflow's modules and explain why");
  command->add_option("workflow", options->workflow, "Workflow YAML (policy, headroom_mib, modules)")->required();
  command->add_option("--inventory", options->inventory, "Simulated GPU inventory YAML (default: the GPUs found on this machine)");
  command->add_option("--policy", options->policy, "Override the workflow's policy")
      ->check(CLI::IsMember({"pack", "spread"}));
  command->add_flag("--json", options->json, "Print JSON instead of text");
  command->callback([options] {
    framework::WorkflowConfig workflow = framework::read_workflow(options->workflow);
    if (!options->policy.empty()) {
      workflow.plan.policy = *scheduler::parse_policy(options->policy);  // checked by the option
    }
    ChosenInventory inventory = choose_inventory(options->inventory);
    add_server_offers(workflow.servers, workflow.claims(), inventory);
    const scheduler::Plan plan = scheduler::make_plan(workflow.claims(), inventory.inventory, workflow.plan);
    if (options->json) {
      std::cout << plan_json(plan).dump(2) << "\n";
    } else {
      std::cout << "inventory: " << inventory.source << "\npolicy: " << scheduler::policy_name(workflow.plan.policy)
                << ", headroom " << workflow.plan.headroom_mib << " MiB per GPU\n\n";
      print_plan(std::cout, plan);
    }
  });
}

}  // namespace hepinfer::cli
