#include "object_graph_restore.h"

#include <algorithm>
#include <map>
#include <unordered_set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hepinfer/core/error.h"
#include "model_metadata.h"
#include "variable_freezing.h"
#include "tensorflow/core/framework/node_def.pb.h"
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

// The smallest of `values` whose sizes add up to at most `limit_bytes` (tensors share their
// buffers: nothing is copied). Smallest first: each variable frozen saves one read a run, whatever
// its size, while freezing costs in proportion to the bytes.
std::map<std::string, tensorflow::Tensor> within_freeze_limit(const std::map<std::string, tensorflow::Tensor>& values,
                                                              std::int64_t limit_bytes) {
  std::vector<std::pair<std::int64_t, std::string>> by_size;
  for (const auto& [name, value] : values) by_size.emplace_back(static_cast<std::int64_t>(value.TotalBytes()), name);
  std::sort(by_size.begin(), by_size.end());
  std::map<std::string, tensorflow::Tensor> chosen;
  std::int64_t total = 0;
  for (const auto& [bytes, name] : by_size) {
    if (total + bytes > limit_bytes) break;
    total += bytes;
    chosen.emplace(name, values.at(name));
  }
  return chosen;
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

  std::map<std::string, tensorflow::Tensor> values;
  for (const auto& [name, variable] : captured) {
    const std::string what = "SavedModel '" + where + "': variable '" + name + "'";
    if (variable.object >= trackables.nodes_size()) {
      throw InvalidModelError(what + " is object " + std::to_string(variable.object) + ", which checkpoint '" +
                              checkpoint + "' does not describe");
    }
    std::string key;
    for (const auto& attribute : trackables.nodes(variable.object).attributes()) {
      if (attribute.name() == kVariableValue) key = attribute.checkpoint_key();
    }
    if (key.empty()) {
      throw InvalidModelError(what + " (object " + std::to_string(variable.object) + ") has no value in checkpoint '" +
                              checkpoint + "'");
    }
    tensorflow::Tensor value;
    if (const absl::Status found = reader.Lookup(key, &value); !found.ok()) {
      throw InvalidModelError(what + ": checkpoint '" + checkpoint + "' lacks '" + key + "': " +
                              std::string(found.message()));
    }
    const auto dtype = variable.handle->attr().find("dtype");
    if (dtype != variable.handle->attr().end() && dtype->second.type() != value.dtype()) {
      throw InvalidModelError(what + " is " + tensorflow::DataTypeString(dtype->second.type()) + ", but '" + key +
                              "' in checkpoint '" + checkpoint + "' is " + tensorflow::DataTypeString(value.dtype()));
    }
    const tensorflow::TensorShape shape = declared_shape(*variable.handle);
    if (shape.dims() > 0 && shape != value.shape()) {
      throw InvalidModelError(what + " has shape " + shape.DebugString() + ", but '" + key + "' in checkpoint '" +
                              checkpoint + "' has " + value.shape().DebugString());
    }
    restored.bytes_ += static_cast<std::int64_t>(value.TotalBytes());
    ++restored.variables_;
    values.emplace(name, std::move(value));
  }

  std::unordered_set<std::string> served, initialised;  // what the signatures compute; the init op
  for (const auto& [key, signature] : meta_graph.signature_def()) {
    for (const auto& [output, info] : signature.outputs()) {
      (key == "__saved_model_init_op" ? initialised : served).insert(node_name_of(info.name()));
    }
  }
  const std::map<std::string, tensorflow::Tensor> freezable =
      freeze ? within_freeze_limit(values, freeze_limit_bytes) : std::map<std::string, tensorflow::Tensor>{};
  const FreezeResult frozen =
      freeze ? freeze_read_only_variables(graph, freezable, served, initialised) : FreezeResult{};
  restored.frozen_reads_ = frozen.constants;
  restored.checkpoint_unneeded_ = freeze && frozen.reads_no_variable;
  for (auto& [name, value] : values) {
    if (frozen.handles.contains(name)) continue;  // nothing reads it at run time any more
    ++restored.live_variables_;
    if (freeze && !freezable.contains(name)) ++restored.over_freeze_limit_;
    const CapturedVariable& variable = captured.at(name);
    const std::string index = std::to_string(restored.targets_.size());
    tensorflow::NodeDef* placeholder = graph.add_node();
    placeholder->set_name("hepinfer_object_graph_restore/value_" + index);
    placeholder->set_op("Placeholder");
    placeholder->set_device(variable.handle->device());
    (*placeholder->mutable_attr())["dtype"].set_type(value.dtype());
    tensorflow::NodeDef* assign = graph.add_node();
    assign->set_name("hepinfer_object_graph_restore/assign_" + index);
    assign->set_op("AssignVariableOp");
    assign->set_device(variable.handle->device());
    assign->add_input(name);
    assign->add_input(placeholder->name());
    (*assign->mutable_attr())["dtype"].set_type(value.dtype());
    restored.feeds_.emplace_back(placeholder->name(), std::move(value));
    restored.targets_.push_back(assign->name());
  }
  return restored;
}

void ObjectGraphRestore::apply(tensorflow::Session& session) {
  if (targets_.empty()) return;
  if (const absl::Status ran = session.Run(feeds_, {}, targets_, nullptr); !ran.ok()) {
    throw InvalidModelError("SavedModel '" + where_ + "': restoring its captured variables failed: " +
                            std::string(ran.message()));
  }
  feeds_.clear();
}

}  // namespace hepinfer::tf::detail
