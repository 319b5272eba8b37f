#include "object_graph_restore.h"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hepinfer/core/error.h"
#include "model_metadata.h"
#include "variable_freezing.h"
#include "tensorflow/core/framework/node_def.pb.h"
#include "tensorflow/core/framework/tensor.pb.h"
#include "tensorflow/core/framework/types.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/platform/env.h"
#include "tensorflow/core/protobuf/saved_object_graph.pb.h"
#include "tensorflow/core/protobuf/trackable_object_graph.pb.h"
#include "tensorflow/core/util/tensor_bundle/tensor_bundle.h"

namespace hepinfer::tf::detail {
namespace {

constexpr const char* kObjectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH";
constexpr const char* kVariableValue = "VARIABLE_VALUE";

struct CapturedVariable {
  const tensorflow::NodeDef* handle = nullptr;  // the VarHandleOp the function is fed
  int object = 0;                               // its node in the object graph
};

// The VarHandleOps that calls of saved concrete functions capture, with the objects they are
// bound to, by handle name.
std::map<std::string, CapturedVariable> captured_variables(const tensorflow::MetaGraphDef& meta_graph,
                                                           const std::string& where) {
  const auto& functions = meta_graph.object_graph_def().concrete_functions();
  std::unordered_map<std::string, const tensorflow::NodeDef*> nodes;
  for (const auto& node : meta_graph.graph_def().node()) nodes.emplace(node.name(), &node);
  std::map<std::string, CapturedVariable> captured;
  for (const auto& node : meta_graph.graph_def().node()) {
    if (node.op() != "StatefulPartitionedCall" && node.op() != "PartitionedCall") continue;
    const auto f = node.attr().find("f");
    if (f == node.attr().end()) continue;
    const auto function = functions.find(f->second.func().name());
    if (function == functions.end()) continue;
    std::vector<std::string> inputs;
    for (const auto& input : node.input()) {
      if (!input.starts_with('^')) inputs.push_back(input);
    }
    const auto& bound = function->second.bound_inputs();
    if (static_cast<std::size_t>(bound.size()) > inputs.size()) {
      throw InvalidModelError("SavedModel '" + where + "': function '" + f->second.func().name() + "' is bound to " +
                              std::to_string(bound.size()) + " captured objects, but node '" + node.name() +
                              "' feeds it only " + std::to_string(inputs.size()) + " inputs");
    }
    const std::size_t first_capture = inputs.size() - static_cast<std::size_t>(bound.size());
    for (int k = 0; k < bound.size(); ++k) {
      const std::string handle_name = node_name_of(inputs[first_capture + static_cast<std::size_t>(k)]);
      const auto handle = nodes.find(handle_name);
      if (handle == nodes.end()) {
        throw InvalidModelError("SavedModel '" + where + "': node '" + node.name() + "' captures '" + handle_name +
                                "', which is not in the graph");
      }
      if (handle->second->op() != "VarHandleOp") continue;  // constants, assets, tables: not variables
      if (bound[k] < 0 || bound[k] >= meta_graph.object_graph_def().nodes_size()) {
        throw InvalidModelError("SavedModel '" + where + "': variable '" + handle_name +
                                "' is bound to object " + std::to_string(bound[k]) + ", which the object graph lacks");
      }
      captured.emplace(handle_name, CapturedVariable{handle->second, bound[k]});
    }
  }
  return captured;
}

tensorflow::TensorShape declared_shape(const tensorflow::NodeDef& handle) {
  const auto shape = handle.attr().find("shape");
  if (shape == handle.attr().end()) return {};
  tensorflow::TensorShape result;
  if (!tensorflow::TensorShape::BuildTensorShape(shape->second.shape(), &result).ok()) return {};
  return result;
}

// A captured variable's value in the checkpoint, as its index describes it.
struct CheckpointEntry {
  std::string key;
  tensorflow::DataType dtype = tensorflow::DT_INVALID;
  tensorflow::TensorShape shape;
  std::int64_t bytes = 0;
  std::optional<tensorflow::Tensor> value;  // read already: a string's size is known only so
};

// True if every value `trackables` has in the checkpoint is a variable's: then nothing but
// variables (no table's contents, no other saveable) needs TF's restore.
bool holds_only_variable_values(const tensorflow::TrackableObjectGraph& trackables) {
  for (const auto& node : trackables.nodes()) {
    for (const auto& attribute : node.attributes()) {
      if (attribute.name() != kVariableValue) return false;
    }
  }
  return true;
}

// The names of the smallest of `entries` whose values add up to at most `limit_bytes`. Smallest
// first: each variable frozen saves one read a run, whatever its size, while freezing costs in
// proportion to the bytes.
std::vector<std::string> within_freeze_limit(const std::map<std::string, CheckpointEntry>& entries,
                                             std::int64_t limit_bytes) {
  std::vector<std::pair<std::int64_t, std::string>> by_size;
  for (const auto& [name, entry] : entries) by_size.emplace_back(entry.bytes, name);
  std::sort(by_size.begin(), by_size.end());
  std::vector<std::string> chosen;
  std::int64_t total = 0;
  for (const auto& [bytes, name] : by_size) {
    if (total + bytes > limit_bytes) break;
    total += bytes;
    chosen.push_back(name);
  }
  return chosen;
}

// Adds a string constant (a scalar, or with `as_vector` a vector of one) and returns its name.
std::string add_string_constant(tensorflow::GraphDef& graph, const std::string& name, const std::string& value,
                                bool as_vector) {
  tensorflow::NodeDef* node = graph.add_node();
  node->set_name(name);
  node->set_op("Const");
  (*node->mutable_attr())["dtype"].set_type(tensorflow::DT_STRING);
  tensorflow::TensorProto& tensor = *(*node->mutable_attr())["value"].mutable_tensor();
  tensor.set_dtype(tensorflow::DT_STRING);
  if (as_vector) tensor.mutable_tensor_shape()->add_dim()->set_size(1);
  tensor.add_string_val(value);
  return name;
}

}  // namespace

ObjectGraphRestore ObjectGraphRestore::prepare(const tensorflow::MetaGraphDef& meta_graph,
                                               const std::filesystem::path& saved_model_dir,
                                               tensorflow::GraphDef& graph, bool freeze,
                                               std::int64_t freeze_limit_bytes) {
  ObjectGraphRestore restored;
  const std::string where = saved_model_dir.string();
  restored.where_ = where;
  if (!meta_graph.has_object_graph_def()) return restored;
  const std::map<std::string, CapturedVariable> captured = captured_variables(meta_graph, where);
  if (captured.empty()) return restored;

  const std::string prefix = (saved_model_dir / "variables" / "variables").string();
  const std::string checkpoint = prefix + ".index";
  tensorflow::BundleReader reader(tensorflow::Env::Default(), prefix);
  if (!reader.status().ok()) {
    throw InvalidModelError("SavedModel '" + where + "': cannot read checkpoint '" + checkpoint +
                            "': " + std::string(reader.status().message()));
  }
  tensorflow::Tensor serialized_graph;
  if (const absl::Status found = reader.Lookup(kObjectGraphKey, &serialized_graph); !found.ok()) {
    throw InvalidModelError("SavedModel '" + where + "': checkpoint '" + checkpoint +
                            "' has no object graph to bind captured variables to (" + std::string(found.message()) +
                            ")");
  }
  tensorflow::TrackableObjectGraph trackables;
  if (serialized_graph.dtype() != tensorflow::DT_STRING || serialized_graph.NumElements() != 1 ||
      !trackables.ParseFromString(std::string(serialized_graph.scalar<tensorflow::tstring>()()))) {
    throw InvalidModelError("SavedModel '" + where + "': checkpoint '" + checkpoint +
                            "' has a malformed object graph");
  }

  // Each value's entry is checked against its variable without reading the value: only the values
  // frozen into the graph are read here. The session restores the others itself, through nodes
  // added below, so no value is ever held twice (a feed is, while its assignment copies it).
  std::map<std::string, CheckpointEntry> entries;
  for (const auto& [name, variable] : captured) {
    const std::string what = "SavedModel '" + where + "': variable '" + name + "'";
    if (variable.object >= trackables.nodes_size()) {
      throw InvalidModelError(what + " is object " + std::to_string(variable.object) + ", which checkpoint '" +
                              checkpoint + "' does not describe");
    }
    CheckpointEntry entry;
    for (const auto& attribute : trackables.nodes(variable.object).attributes()) {
      if (attribute.name() == kVariableValue) entry.key = attribute.checkpoint_key();
    }
    if (entry.key.empty()) {
      throw InvalidModelError(what + " (object " + std::to_string(variable.object) + ") has no value in checkpoint '" +
                              checkpoint + "'");
    }
    if (const absl::Status found = reader.LookupDtypeAndShape(entry.key, &entry.dtype, &entry.shape); !found.ok()) {
      throw InvalidModelError(what + ": checkpoint '" + checkpoint + "' lacks '" + entry.key + "': " +
                              std::string(found.message()));
    }
    const auto dtype = variable.handle->attr().find("dtype");
    if (dtype != variable.handle->attr().end() && dtype->second.type() != entry.dtype) {
      throw InvalidModelError(what + " is " + tensorflow::DataTypeString(dtype->second.type()) + ", but '" +
                              entry.key + "' in checkpoint '" + checkpoint + "' is " +
                              tensorflow::DataTypeString(entry.dtype));
    }
    const tensorflow::TensorShape shape = declared_shape(*variable.handle);
    if (shape.dims() > 0 && shape != entry.shape) {
      throw InvalidModelError(what + " has shape " + shape.DebugString() + ", but '" + entry.key +
                              "' in checkpoint '" + checkpoint + "' has " + entry.shape.DebugString());
    }
    if (tensorflow::DataTypeCanUseMemcpy(entry.dtype)) {
      entry.bytes = static_cast<std::int64_t>(tensorflow::DataTypeSize(entry.dtype)) * entry.shape.num_elements();
    } else {  // strings: their size is in the values
      tensorflow::Tensor value;
      if (const absl::Status read = reader.Lookup(entry.key, &value); !read.ok()) {
        throw InvalidModelError(what + ": checkpoint '" + checkpoint + "' cannot give '" + entry.key + "': " +
                                std::string(read.message()));
      }
      entry.bytes = static_cast<std::int64_t>(value.TotalBytes());
      entry.value = std::move(value);
    }
    restored.bytes_ += entry.bytes;
    ++restored.variables_;
    entries.emplace(name, std::move(entry));
  }

  std::unordered_set<std::string> served, initialised;  // what the signatures compute; the init op
  for (const auto& [key, signature] : meta_graph.signature_def()) {
    for (const auto& [output, info] : signature.outputs()) {
      (key == "__saved_model_init_op" ? initialised : served).insert(node_name_of(info.name()));
    }
  }
  std::map<std::string, tensorflow::Tensor> freezable;
  if (freeze) {
    for (const std::string& name : within_freeze_limit(entries, freeze_limit_bytes)) {
      if (entries.at(name).value) {
        freezable.emplace(name, *entries.at(name).value);
        continue;
      }
      tensorflow::Tensor value;
      if (const absl::Status read = reader.Lookup(entries.at(name).key, &value); !read.ok()) {
        throw InvalidModelError("SavedModel '" + where + "': variable '" + name + "': checkpoint '" + checkpoint +
                                "' cannot give '" + entries.at(name).key + "': " + std::string(read.message()));
      }
      freezable.emplace(name, std::move(value));
    }
  }
  const FreezeResult frozen =
      freeze ? freeze_read_only_variables(graph, freezable, served, initialised) : FreezeResult{};
  restored.frozen_reads_ = frozen.constants;
  // TF's loader restores what the checkpoint's saver names, which for Keras 3 models are other
  // handles than the captured ones (the header): that restore is needed only if the checkpoint
  // holds more than variables' values, or the runs read a variable not restored here.
  std::unordered_set<std::string> roots = served;
  roots.insert(initialised.begin(), initialised.end());
  const std::unordered_set<std::string> stateful = stateful_nodes_needed_by(graph, roots);
  restored.checkpoint_unneeded_ =
      holds_only_variable_values(trackables) &&
      std::all_of(stateful.begin(), stateful.end(),
                  [&](const std::string& name) { return entries.contains(name) && !frozen.handles.contains(name); });
  std::string prefix_node;
  for (const auto& [name, entry] : entries) {
    if (frozen.handles.contains(name)) continue;  // nothing reads it at run time any more
    ++restored.live_variables_;
    if (freeze && !freezable.contains(name)) ++restored.over_freeze_limit_;
    const CapturedVariable& variable = captured.at(name);
    // Named after the variable, which a failed read's message then names.
    const std::string scope = "hepinfer_object_graph_restore/" + name + "/";
    if (prefix_node.empty()) {
      prefix_node = add_string_constant(graph, "hepinfer_object_graph_restore/prefix", prefix, false);
    }
    // RestoreV2's output goes to the assignment alone, which on the CPU adopts its buffer rather
    // than copying it.
    tensorflow::NodeDef* restore = graph.add_node();
    restore->set_name(scope + "restore");
    restore->set_op("RestoreV2");
    restore->add_input(prefix_node);
    restore->add_input(add_string_constant(graph, scope + "key", entry.key, true));
    restore->add_input(add_string_constant(graph, scope + "slice", "", true));
    (*restore->mutable_attr())["dtypes"].mutable_list()->add_type(entry.dtype);
    tensorflow::NodeDef* assign = graph.add_node();
    assign->set_name(scope + "assign");
    assign->set_op("AssignVariableOp");
    assign->set_device(variable.handle->device());
    assign->add_input(name);
    assign->add_input(restore->name());
    (*assign->mutable_attr())["dtype"].set_type(entry.dtype);
    restored.targets_.push_back(assign->name());
  }
  return restored;
}

void ObjectGraphRestore::apply(tensorflow::Session& session) {
  if (targets_.empty()) return;
  if (const absl::Status ran = session.Run({}, {}, targets_, nullptr); !ran.ok()) {
    throw InvalidModelError("SavedModel '" + where_ + "': restoring its captured variables failed: " +
                            std::string(ran.message()));
  }
  targets_.clear();
}

}  // namespace hepinfer::tf::detail
