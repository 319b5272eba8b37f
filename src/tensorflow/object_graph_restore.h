#pragma once
// TF2 SavedModels bind the variables a function captures through the SavedModel's object graph,
// not by name. TF's session loader only runs the checkpoint's restore function, which fills the
// variables the checkpoint names; a model saved with tf.saved_model.save(model, dir, signatures=...)
// from Keras 3 captures other handles (`dense/kernel` where the checkpoint restores `Variable`),
// so its first run fails with "Could not find variable". Python binds captures to restored objects
// through the SavedObjectGraph; this does the same for the session: each call of a saved concrete
// function in the graph maps its captured variable handles to the objects the function is bound
// to, and each object to its checkpoint value.

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tensorflow/core/protobuf/meta_graph.pb.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/public/session.h"

namespace hepinfer::tf::detail {

// The captured variables of a TF2 SavedModel, restored from its checkpoint by nodes of the
// session's graph (RestoreV2, AssignVariableOp). The session's graph is static (sessions are
// created with optimize_for_static_graph), so those nodes are added to the graph before the
// session is created, and run once after TF's loader restored the checkpoint (where it must).
class ObjectGraphRestore {
 public:
  // Maps every captured variable handle of `meta_graph`'s function calls to its checkpoint entry
  // and adds the nodes restoring them to `graph` (the graph the session will be created from).
  // Nothing to do for TF1 SavedModels. Throws InvalidModelError naming the SavedModel, the
  // variable and the checkpoint when a capture maps to nothing, the checkpoint lacks a value, or a
  // value's dtype or shape differs from the variable's.
  // With `freeze`, variables the calls only read become constants of `graph` instead
  // (variable_freezing.h) and are not assigned: the smallest first, up to `freeze_limit_bytes` of
  // values in all (LoadOptions::freeze_limit_bytes says why); larger ones stay live.
  static ObjectGraphRestore prepare(const tensorflow::MetaGraphDef& meta_graph,
                                    const std::filesystem::path& saved_model_dir, tensorflow::GraphDef& graph,
                                    bool freeze, std::int64_t freeze_limit_bytes);

  // Restores the live variables in `session`. Throws InvalidModelError.
  void apply(tensorflow::Session& session);

  int variables() const { return variables_; }    // captured variables bound to checkpoint values
  std::int64_t bytes() const { return bytes_; }   // the values' size
  int frozen_reads() const { return frozen_reads_; }        // variable reads now constants
  int live_variables() const { return live_variables_; }    // variables still read at run time
  int over_freeze_limit() const { return over_freeze_limit_; }  // of those, left live by the limit
  // Nothing the signatures or the init op run reads state that these nodes do not restore
  // (variables frozen into constants need none): TF's restore of the checkpoint would only fill
  // variables nobody reads, holding the weights twice.
  bool checkpoint_unneeded() const { return checkpoint_unneeded_; }

 private:
  std::string where_;
  std::vector<std::string> targets_;
  int variables_ = 0;
  std::int64_t bytes_ = 0;
  int frozen_reads_ = 0;
  int live_variables_ = 0;
  int over_freeze_limit_ = 0;
  bool checkpoint_unneeded_ = false;
};

}  // namespace hepinfer::tf::detail
