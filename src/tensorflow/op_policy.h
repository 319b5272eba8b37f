#pragma once
// Which TensorFlow ops hepinfer lets a model run. A graph is a program: some ops read or write
// files, run Python or talk to the outside. Models are checked before their session is created,
// so a refused model never runs anything.
#include <string>
#include <unordered_set>
#include <vector>

#include "hepinfer/core/load_options.h"
#include "tensorflow/core/framework/graph.pb.h"
#include "tensorflow/core/protobuf/saver.pb.h"

namespace hepinfer::tf::detail {

struct OpPolicy {
  std::vector<std::string> extra_allowed;  // op types added to the allowlist
  bool allow_all = false;
  // Nodes allowed whatever their op, as "FUNCTION/NODE" ("/NODE" in the main graph): file-reading
  // table initialisers whose file is one of the model's own assets (asset_policy.h).
  std::unordered_set<std::string> vouched_nodes;
};

inline OpPolicy op_policy_of(const LoadOptions& options) {
  return {.extra_allowed = options.allowed_ops, .allow_all = options.allow_unsafe_ops, .vouched_nodes = {}};
}

// Every node of `graph`, and of every library function it can run, must use an allowlisted op:
// functions it calls, their control flow's branches and bodies, and the alternatives grappler may
// swap in for them (api_implements). Functions nothing reaches are not checked. Nodes (and the
// functions they call) that only the saver's save/restore ops reach may also use checkpoint ops
// (RestoreV2, SaveV2, AssignVariableOp, ...). Ops TF does not know are left to TF to reject.
// Throws PermissionDeniedError naming the model, op, node and function.
void check_ops(const tensorflow::GraphDef& graph, const tensorflow::SaverDef* saver, const OpPolicy& policy,
               const std::string& model_path);

}  // namespace hepinfer::tf::detail
