#pragma once
// Which files a SavedModel may read while it initialises: lookup tables are filled from text files
// (InitializeTableFromTextFileV2) whose names the graph computes, and a crafted model can name any
// path (/etc/passwd, ../..) and leak the file through its outputs. By default a file-reading
// initialiser is allowed only where its file name provably comes from one of the model's own
// assets (asset_file_def), resolved inside the model's directory; anything else is refused at
// load, naming the node and the path, before any file is opened. LoadOptions::allowed_ops with
// the op (CLI --allow-op InitializeTableFromTextFileV2) or allow_unsafe_ops lifts the rule.

#include <filesystem>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "op_policy.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/protobuf/meta_graph.pb.h"

namespace hepinfer::tf::detail {

inline constexpr const char* kFileTableInitializer = "InitializeTableFromTextFileV2";

struct AssetBinding {
  // The SavedModel's asset tensors, fed their resolved paths when the init op runs.
  std::vector<std::pair<std::string, tensorflow::Tensor>> feeds;
  // File-reading initialisers shown to read only assets, as OpPolicy::vouched_nodes keys.
  std::unordered_set<std::string> vouched_nodes;
};

// Resolves the SavedModel's assets and checks every file-reading initialiser against them.
// Throws PermissionDeniedError (an asset leaving the model directory, an initialiser reading a
// file that is not an asset) or FileNotFoundError (an asset file missing), naming the model,
// the node and the path. Opens no file.
AssetBinding bind_assets(const tensorflow::MetaGraphDef& meta_graph, const std::filesystem::path& saved_model_dir,
                         const OpPolicy& policy);

}  // namespace hepinfer::tf::detail
