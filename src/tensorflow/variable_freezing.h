#pragma once
// Freezing a SavedModel at load: a variable its serving functions only read becomes a constant
// inside those functions, so a run costs what the frozen graph's run costs (a SavedModel's
// ReadVariableOps were two thirds of its nodes per run). The functions are rewritten, not the
// originals edited: for every call of a saved function that is passed a variable handle, a copy
// of the callee (and of each function it passes the handle on to) reads a Const instead and no
// longer takes the handle. A variable a function writes, returns, or hands to anything but a
// ReadVariableOp or another function call (a While loop, a ResourceGather) stays live.

#include <cstdint>
#include <map>
#include <string>
#include <unordered_set>

#include "tensorflow/core/framework/graph.pb.h"
#include "tensorflow/core/framework/tensor.h"

namespace hepinfer::tf::detail {

struct FreezeResult {
  int constants = 0;                          // variable reads now constants
  std::int64_t bytes = 0;                     // their values' size
  std::unordered_set<std::string> handles;    // variables no call of `graph` reads any more
};

// Rewrites the calls in `graph` that the nodes in `serving_roots` (the signatures' outputs) depend
// on and that are passed one of the VarHandleOps in `values` (handle name -> checkpoint value).
// Calls nothing serves (the saver's) are left alone. `handles` are then the variables nothing
// that `serving_roots` or `other_roots` (the init op) depend on reads any more.
FreezeResult freeze_read_only_variables(tensorflow::GraphDef& graph,
                                        const std::map<std::string, tensorflow::Tensor>& values,
                                        const std::unordered_set<std::string>& serving_roots,
                                        const std::unordered_set<std::string>& other_roots);

// The nodes of `graph`'s main graph that something in `roots` depends on and that may hold state
// a checkpoint fills: variables (VarHandleOp, VariableV2, Variable) and mutable tables. Not every
// kind of resource: the caller also asks the checkpoint what it holds.
std::unordered_set<std::string> stateful_nodes_needed_by(const tensorflow::GraphDef& graph,
                                                         const std::unordered_set<std::string>& roots);

}  // namespace hepinfer::tf::detail
