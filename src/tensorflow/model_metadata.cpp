#include "model_metadata.h"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_set>

#include "hepinfer/core/error.h"
#include "tensor_bridge.h"
#include "tensorflow/core/common_runtime/graph_constructor.h"
#include "tensorflow/core/common_runtime/shape_refiner.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/graph/graph.h"
#include "tensorflow/core/protobuf/saved_object_graph.pb.h"
#include "tensorflow/core/protobuf/struct.pb.h"

namespace hepinfer::tf {
namespace {

// Ops whose unconsumed outputs are bookkeeping, not results.
bool is_result_op(const std::string& op) {
  static const std::unordered_set<std::string> kNotResults = {
      "Placeholder", "PlaceholderWithDefault", "Const", "NoOp", "Assert", "VarHandleOp",
      "VariableV2", "Variable", "SaveV2", "RestoreV2", "Print", "PrintV2"};
  return !kNotResults.contains(op);
}

Shape inferred_shape(const tensorflow::ShapeRefiner& refiner, const tensorflow::Node* node, int output) {
  tensorflow::shape_inference::InferenceContext* context = refiner.GetContext(node);
  if (context == nullptr || output >= context->num_outputs()) return Shape::unknown_rank();
  const auto handle = context->output(output);
  if (!context->RankKnown(handle)) return Shape::unknown_rank();
  std::vector<std::int64_t> dims;
  for (int axis = 0; axis < context->Rank(handle); ++axis) {
    dims.push_back(context->Value(context->Dim(handle, axis)));
  }
  return Shape(std::move(dims));
}

Shape shape_from_proto(const tensorflow::TensorShapeProto& proto) {
  if (proto.unknown_rank()) return Shape::unknown_rank();
  std::vector<std::int64_t> dims;
  for (const auto& dim : proto.dim()) dims.push_back(dim.size() < 0 ? Shape::kUnknownDim : dim.size());
  return Shape(std::move(dims));
}

// The tensors of one side of a signature, or why hepinfer cannot take them ("input 'text' has
// dtype string").
std::vector<TensorInfo> tensor_infos(const google::protobuf::Map<std::string, tensorflow::TensorInfo>& map,
                                     const char* side, std::string& left_out_because) {
  std::vector<TensorInfo> infos;
  for (const auto& [key, proto] : map) {
    if (proto.name().empty()) {
      left_out_because = std::string(side) + " '" + key + "' is a sparse or ragged tensor";
      return {};
    }
    const auto dtype = from_tf_dtype(proto.dtype());
    if (!dtype) {
      left_out_because = std::string(side) + " '" + key + "' has dtype " + tensorflow::DataTypeString(proto.dtype());
      if (tensorflow::BaseType(proto.dtype()) == tensorflow::DT_BFLOAT16) {
        left_out_because += " (Keras' mixed_bfloat16 policy: give the last layer dtype='float32')";
      }
      return {};
    }
    infos.push_back({key, proto.name(), *dtype, shape_from_proto(proto.tensor_shape()), std::nullopt});
  }
  std::sort(infos.begin(), infos.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return infos;
}

}  // namespace

std::string canonical_tensor_name(const std::string& name) {
  return name.find(':') == std::string::npos ? name + ":0" : name;
}

std::unordered_set<std::string> node_names(const tensorflow::GraphDef& graph) {
  std::unordered_set<std::string> names;
  for (const auto& node : graph.node()) names.insert(node.name());
  return names;
}

SignatureInfo frozen_graph_signature(const tensorflow::GraphDef& graph_def, const std::string& path) {
  tensorflow::Graph graph(tensorflow::OpRegistry::Global());
  tensorflow::ShapeRefiner refiner(graph.versions(), graph.op_registry());
  const tensorflow::ImportGraphDefOptions options;
  const absl::Status status = tensorflow::ImportGraphDef(options, graph_def, &graph, &refiner);
  if (!status.ok()) {
    throw InvalidModelError("'" + path + "' is a GraphDef TensorFlow cannot import: " +
                            std::string(status.message()));
  }

  std::unordered_set<std::string> consumed;
  std::map<std::string, const tensorflow::NodeDef*> node_defs;
  for (const auto& node : graph_def.node()) {
    node_defs.emplace(node.name(), &node);
    for (const auto& input : node.input()) consumed.insert(node_name_of(input));
  }
  std::map<std::string, const tensorflow::Node*> nodes;
  for (const tensorflow::Node* node : graph.op_nodes()) nodes.emplace(node->name(), node);

  std::vector<std::string> results_left_out;
  auto describe = [&](const tensorflow::NodeDef& node_def, std::vector<TensorInfo>& infos) {
    const auto found = nodes.find(node_def.name());
    if (found == nodes.end()) return;
    for (int output = 0; output < found->second->num_outputs(); ++output) {
      const tensorflow::DataType tf_dtype = found->second->output_type(output);
      const auto dtype = from_tf_dtype(tf_dtype);
      const std::string described = "'" + node_def.name() + "' (" + tensorflow::DataTypeString(tf_dtype) + ")";
      if (!dtype && node_def.op() == "Placeholder") {
        throw UnsupportedError("'" + path + "': input " + described + " has a dtype hepinfer cannot feed; it takes " +
                               std::string(supported_dtype_names()));
      }
      if (!dtype) {
        // e.g. a string summary left in the graph: not a model result, unless nothing else is.
        results_left_out.push_back(described);
        continue;
      }
      const std::string tensor = node_def.name() + ":" + std::to_string(output);
      infos.push_back({output == 0 ? node_def.name() : tensor, tensor, *dtype,
                       inferred_shape(refiner, found->second, output), std::nullopt});
    }
  };

  SignatureInfo signature{kDefaultSignatureKey, {}, {}};
  std::vector<std::string> pending;
  for (const auto& node_def : graph_def.node()) {
    if (consumed.contains(node_def.name()) || !is_result_op(node_def.op())) continue;
    describe(node_def, signature.outputs);
    pending.push_back(node_def.name());
  }
  if (signature.outputs.empty() && !results_left_out.empty()) {
    std::string names;
    for (const std::string& name : results_left_out) names += (names.empty() ? "" : ", ") + name;
    throw UnsupportedError("'" + path + "': the graph's only results, " + names +
                           ", have dtypes hepinfer cannot return; it returns " + std::string(supported_dtype_names()));
  }
  // Inputs are the placeholders the outputs depend on; freezing control flow can leave
  // placeholders behind that nothing needs.
  std::unordered_set<std::string> needed(pending.begin(), pending.end());
  while (!pending.empty()) {
    const auto found = node_defs.find(pending.back());
    pending.pop_back();
    if (found == node_defs.end()) continue;
    for (const auto& input : found->second->input()) {
      if (needed.insert(node_name_of(input)).second) pending.push_back(node_name_of(input));
    }
  }
  for (const auto& node_def : graph_def.node()) {
    if (node_def.op() == "Placeholder" && needed.contains(node_def.name())) describe(node_def, signature.inputs);
  }
  return signature;
}

namespace {

// True if `value` (a saved function's input signature) holds a ragged or sparse tensor's spec.
bool holds_composite(const tensorflow::StructuredValue& value) {
  switch (value.kind_case()) {
    case tensorflow::StructuredValue::kTypeSpecValue: {
      const auto type = value.type_spec_value().type_spec_class();
      return type == tensorflow::TypeSpecProto::RAGGED_TENSOR_SPEC || type == tensorflow::TypeSpecProto::SPARSE_TENSOR_SPEC;
    }
    case tensorflow::StructuredValue::kListValue:
      return std::any_of(value.list_value().values().begin(), value.list_value().values().end(), holds_composite);
    case tensorflow::StructuredValue::kTupleValue:
      return std::any_of(value.tuple_value().values().begin(), value.tuple_value().values().end(), holds_composite);
    case tensorflow::StructuredValue::kDictValue:
      return std::any_of(value.dict_value().fields().begin(), value.dict_value().fields().end(),
                         [](const auto& field) { return holds_composite(field.second); });
    case tensorflow::StructuredValue::kNamedTupleValue:
      return std::any_of(value.named_tuple_value().values().begin(), value.named_tuple_value().values().end(),
                         [](const auto& pair) { return holds_composite(pair.value()); });
    default: return false;
  }
}

// The graph tensors ("node:0") that feed a function taking a ragged or sparse tensor. A signature
// over one is a wrapper that takes its components as separate tensors and calls the function that
// takes the composite (whose saved input signature keeps its spec).
std::unordered_set<std::string> composite_component_tensors(const tensorflow::MetaGraphDef& meta_graph) {
  std::unordered_set<std::string> composite_functions;
  for (const auto& [name, function] : meta_graph.object_graph_def().concrete_functions()) {
    if (holds_composite(function.canonicalized_input_signature())) composite_functions.insert(name);
  }
  if (composite_functions.empty()) return {};
  const auto calls_one = [&](const tensorflow::NodeDef& node) {
    if (node.op() != "PartitionedCall" && node.op() != "StatefulPartitionedCall") return false;
    const auto f = node.attr().find("f");
    return f != node.attr().end() && composite_functions.contains(f->second.func().name());
  };
  std::unordered_set<std::string> wrappers;
  for (const auto& function : meta_graph.graph_def().library().function()) {
    if (std::any_of(function.node_def().begin(), function.node_def().end(), calls_one)) {
      wrappers.insert(function.signature().name());
    }
  }
  std::unordered_set<std::string> tensors;
  for (const auto& node : meta_graph.graph_def().node()) {
    if (node.op() != "PartitionedCall" && node.op() != "StatefulPartitionedCall") continue;
    const auto f = node.attr().find("f");
    if (f == node.attr().end() || !wrappers.contains(f->second.func().name())) continue;
    for (const auto& input : node.input()) {
      if (!input.starts_with('^')) tensors.insert(input.find(':') == std::string::npos ? input + ":0" : input);
    }
  }
  return tensors;
}

}  // namespace

SavedModelSignatures saved_model_signatures(const tensorflow::MetaGraphDef& meta_graph) {
  SavedModelSignatures found;
  const std::unordered_set<std::string> components = composite_component_tensors(meta_graph);
  for (const auto& [key, definition] : meta_graph.signature_def()) {
    if (key == "__saved_model_init_op") continue;
    std::string left_out_because;
    auto inputs = tensor_infos(definition.inputs(), "input", left_out_because);
    auto outputs = left_out_because.empty() ? tensor_infos(definition.outputs(), "output", left_out_because)
                                            : std::vector<TensorInfo>{};
    if (!left_out_because.empty()) {
      found.left_out.emplace(key, std::move(left_out_because));
      continue;
    }
    for (TensorInfo& input : inputs) input.composite_component = components.contains(input.tensor_name);
    found.runnable.push_back({key, std::move(inputs), std::move(outputs)});
  }
  std::sort(found.runnable.begin(), found.runnable.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return found;
}

std::string SavedModelSignatures::why_left_out() const {
  std::string reasons;
  for (const auto& [key, reason] : left_out) {
    reasons += (reasons.empty() ? "signature '" : "; signature '") + key + "': " + reason;
  }
  return reasons;
}

std::string node_name_of(const std::string& input) {
  std::string name = input.starts_with('^') ? input.substr(1) : input;
  if (const auto colon = name.find(':'); colon != std::string::npos) name.resize(colon);
  return name;
}

}  // namespace hepinfer::tf
