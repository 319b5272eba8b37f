#include "large_constants.h"

#include <algorithm>
#include <unordered_set>

#include "hepinfer/core/error.h"
#include "tf_status.h"
#include "tensorflow/core/framework/node_def.pb.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/framework/types.h"

namespace hepinfer::tf::detail {
namespace {

// A constant whose value takes fewer bytes in the graph stays one whatever the limit: biases,
// scalars, and constants written as one repeated value, which cost the optimizer nothing and would
// be expanded to their full size as variables. 4 KiB: 1024 float32 values.
constexpr std::int64_t kMinimumBytes = 4096;

// The name prefix of the nodes added; a graph with such names of its own keeps its constants.
constexpr char kPrefix[] = "hepinfer_large_constants/";

bool is_floating(tensorflow::DataType dtype) {
  return dtype == tensorflow::DT_FLOAT || dtype == tensorflow::DT_DOUBLE || dtype == tensorflow::DT_HALF ||
         dtype == tensorflow::DT_BFLOAT16;
}

struct Candidate {
  std::int64_t bytes = 0;  // of the value as the graph holds it
  int node = 0;            // index in the graph
};

// Nodes something depends on by control edge ("^name"): a variable read in their place would not
// keep the edge's meaning.
std::unordered_set<std::string> control_dependencies(const tensorflow::GraphDef& graph) {
  std::unordered_set<std::string> names;
  for (const tensorflow::NodeDef& node : graph.node()) {
    for (const std::string& input : node.input()) {
      if (!input.empty() && input[0] == '^') names.insert(input.substr(1));
    }
  }
  return names;
}

}  // namespace

LargeConstants LargeConstants::move_to_variables(tensorflow::GraphDef& graph, std::int64_t keep_bytes,
                                                 const std::string& where) {
  LargeConstants moved;
  moved.where_ = where;
  const std::unordered_set<std::string> controlled = control_dependencies(graph);
  std::vector<Candidate> candidates;
  for (int i = 0; i < graph.node_size(); ++i) {
    const tensorflow::NodeDef& node = graph.node(i);
    if (node.name().rfind(kPrefix, 0) == 0) return moved;  // not ours to rename around
    const auto dtype = node.attr().find("dtype");
    const auto value = node.attr().find("value");
    // A constant with inputs has control inputs only; inside a TF1 loop, one from the loop's frame,
    // which a read of a variable from outside the loop would break ("inputs from different frames").
    if (node.op() != "Const" || !node.input().empty() || controlled.contains(node.name()) ||
        dtype == node.attr().end() || value == node.attr().end() || !is_floating(dtype->second.type())) {
      continue;
    }
    const auto bytes = static_cast<std::int64_t>(value->second.tensor().ByteSizeLong());
    if (bytes >= kMinimumBytes) candidates.push_back({bytes, i});
  }
  // The smallest stay constants up to the limit, as LoadOptions::freeze_limit_bytes freezes a
  // SavedModel's smallest variables first.
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.bytes < b.bytes; });
  std::int64_t kept = 0;
  std::size_t first_moved = 0;
  while (first_moved < candidates.size() && kept + candidates[first_moved].bytes <= keep_bytes) {
    kept += candidates[first_moved++].bytes;
  }
  for (std::size_t c = first_moved; c < candidates.size(); ++c) {
    const tensorflow::NodeDef& node = graph.node(candidates[c].node);
    const tensorflow::DataType dtype = node.attr().at("dtype").type();
    const std::string device = node.device();
    tensorflow::Tensor value;
    if (!value.FromProto(node.attr().at("value").tensor())) {
      throw InvalidModelError("'" + where + "': constant '" + node.name() + "' holds a value TensorFlow cannot read");
    }
    const std::string index = std::to_string(moved.targets_.size());
    tensorflow::NodeDef* handle = graph.add_node();
    handle->set_name(kPrefix + std::string("handle_") + index);
    handle->set_op("VarHandleOp");
    handle->set_device(device);
    (*handle->mutable_attr())["dtype"].set_type(dtype);
    value.shape().AsProto((*handle->mutable_attr())["shape"].mutable_shape());
    (*handle->mutable_attr())["container"].set_s("");
    (*handle->mutable_attr())["shared_name"].set_s(handle->name());
    tensorflow::NodeDef* placeholder = graph.add_node();
    placeholder->set_name(kPrefix + std::string("value_") + index);
    placeholder->set_op("Placeholder");
    placeholder->set_device(device);
    (*placeholder->mutable_attr())["dtype"].set_type(dtype);
    tensorflow::NodeDef* assign = graph.add_node();
    assign->set_name(kPrefix + std::string("assign_") + index);
    assign->set_op("AssignVariableOp");
    assign->set_device(device);
    assign->add_input(handle->name());
    assign->add_input(placeholder->name());
    (*assign->mutable_attr())["dtype"].set_type(dtype);
    // The constant's own node reads the variable, so its consumers and fetches by name are unchanged.
    tensorflow::NodeDef& read = *graph.mutable_node(candidates[c].node);
    read.set_op("ReadVariableOp");
    read.mutable_attr()->erase("value");
    read.add_input(handle->name());
    moved.bytes_ += static_cast<std::int64_t>(value.TotalBytes());
    moved.feeds_.emplace_back(placeholder->name(), std::move(value));
    moved.targets_.push_back(assign->name());
  }
  return moved;
}

void LargeConstants::assign(tensorflow::Session& session) {
  if (targets_.empty()) return;
  // TF's code says what failed: out of memory, or a value that does not fit its variable.
  throw_if_error(session.Run(feeds_, {}, targets_, nullptr),
                 "'" + where_ + "': assigning its large constants to variables");
  feeds_.clear();
}

}  // namespace hepinfer::tf::detail
