#pragma once
// A SavedModel's variables must come from its checkpoint. TF's loader restores nothing, silently,
// when the variables/ folder is gone, and the model only fails when first run ("Could not find
// variable ... Container localhost does not exist"); hepinfer refuses such a model at load.

#include <filesystem>

#include "tensorflow/core/protobuf/meta_graph.pb.h"

namespace hepinfer::tf::detail {

// Throws InvalidModelError naming the SavedModel, one of its variables and the missing file if
// the graph has variables and `saved_model_dir`/variables/variables.index is not a regular file.
void check_checkpoint_present(const tensorflow::MetaGraphDef& meta_graph, const std::filesystem::path& saved_model_dir);

}  // namespace hepinfer::tf::detail
