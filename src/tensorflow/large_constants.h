#pragma once
// A frozen graph's large floating constants held as variables (LoadOptions::freeze_limit_bytes):
// TF's graph optimizer copies the graph, constants and all, once per pass, which for a graph of
// hundreds of MB of weights costs tens of seconds and several times the weights in memory at load
// (docs/performance.md). The constants beyond the limit are taken out of the GraphDef before the
// session is created; each becomes a variable its consumers read under the constant's own name,
// assigned its value once the session exists, as the SavedModel path's live variables are.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensorflow/core/framework/graph.pb.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/public/session.h"

namespace hepinfer::tf::detail {

class LargeConstants {
 public:
  // Rewrites `graph`: floating constants whose values take 4 KiB or more in the graph, beyond the
  // smallest of them that fit in `keep_bytes` in all, become variables (their values kept here
  // until assign()). Smaller and integer constants, which the optimizer folds and some ops need
  // as shapes and axes, stay, as do constants with control dependencies either way (a TF1 loop's
  // constants depend on its frame). Throws InvalidModelError naming `where` and the node for a
  // value TF cannot read.
  static LargeConstants move_to_variables(tensorflow::GraphDef& graph, std::int64_t keep_bytes,
                                          const std::string& where);

  // Assigns the moved values to their variables in `session` (created from the rewritten graph)
  // and releases them here. Throws the error of TF's status code (tf_status.h) naming `where`.
  void assign(tensorflow::Session& session);

  std::size_t count() const { return targets_.size(); }
  std::int64_t bytes() const { return bytes_; }

 private:
  std::string where_;
  std::vector<std::pair<std::string, tensorflow::Tensor>> feeds_;  // the values, by placeholder
  std::vector<std::string> targets_;                                // the assignments
  std::int64_t bytes_ = 0;
};

}  // namespace hepinfer::tf::detail
