#pragma once
// Which TensorFlow ops hepinfer lets a model run. A graph is a program: some ops read or write
// files, run Python or talk to the outside. Models are checked before their session is created,
// so a refused model never runs anything.
#include <optional>
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

// Every node of `graph` that runs can reach, and of every library function those can run, must use
// an allowlisted op. Runs can reach what `roots` (tensor or node names: a SavedModel's signatures
// and init op) reach, or without roots every node but the saver's. Functions run where a node calls
// them, as a branch, loop body or other function attribute, and where grappler may swap them in
// for a called one (api_implements). Nodes (and the functions they call) that only the saver's
// save/restore ops reach may also use checkpoint ops (RestoreV2, SaveV2, AssignVariableOp, ...).
// Anything else is not checked. Ops TF does not know are left to TF to reject.
// Throws PermissionDeniedError naming the model, op, node and function. Returns the nodes outside
// what runs can reach, which runs must therefore not fetch (none when the policy allows all).
std::unordered_set<std::string> check_ops(const tensorflow::GraphDef& graph, const tensorflow::SaverDef* saver,
                                          const std::optional<std::vector<std::string>>& roots,
                                          const OpPolicy& policy, const std::string& model_path);

}  // namespace hepinfer::tf::detail
