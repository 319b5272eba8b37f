#pragma once
// Describes a TensorFlow graph as hepinfer metadata: the pseudo-signature of a frozen graph and
// the signatures of a SavedModel.

#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "hepinfer/core/model.h"
#include "tensorflow/core/framework/graph.pb.h"
#include "tensorflow/core/protobuf/meta_graph.pb.h"

namespace hepinfer::tf {

inline constexpr char kDefaultSignatureKey[] = "serving_default";
inline constexpr char kBackendName[] = "tensorflow";
inline constexpr char kSavedModelFormat[] = "SavedModel";
inline constexpr char kFrozenGraphFormat[] = "frozen GraphDef";

// Placeholders become inputs, nodes whose outputs nothing consumes become outputs; dtypes come
// from the op definitions and shapes from TF's shape inference (-1 where unknown). Results of
// dtypes hepinfer does not take (a string summary) are left out. Throws InvalidModelError naming
// `path` if TF cannot import the graph, UnsupportedError for an input of such a dtype or when
// only such results are left.
SignatureInfo frozen_graph_signature(const tensorflow::GraphDef& graph, const std::string& path);

// The SavedModel's signatures hepinfer can run, sorted by key, and why the others are left out
// (a tensor of a dtype hepinfer does not take, such as string, or a sparse or ragged one). The
// internal "__saved_model_init_op" is neither.
struct SavedModelSignatures {
  std::vector<SignatureInfo> runnable;
  std::map<std::string, std::string> left_out;  // key -> "input 'text' has dtype string"

  // "signature 'a': ...; signature 'b': ...", for errors and `inspect`.
  std::string why_left_out() const;
};
SavedModelSignatures saved_model_signatures(const tensorflow::MetaGraphDef& meta_graph);

std::unordered_set<std::string> node_names(const tensorflow::GraphDef& graph);

// The node a NodeDef input refers to: "^ctrl" -> "ctrl", "x:1" -> "x".
std::string node_name_of(const std::string& input);

// "x" -> "x:0"; names with an output index are returned unchanged.
std::string canonical_tensor_name(const std::string& name);

}  // namespace hepinfer::tf
