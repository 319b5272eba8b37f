#include "large_constants.h"

#include <algorithm>

#include "hepinfer/core/error.h"
#include "tensorflow/core/framework/node_def.pb.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/framework/types.h"

namespace hepinfer::tf::detail {
namespace {

// Below this many elements a constant stays one whatever the limit (biases, scalars, tables of a few values).
constexpr std::int64_t kMinimumElements = 1024;

// The name prefix of the nodes added; a graph with such names of its own keeps its constants.
constexpr char kPrefix[] = "hepinfer_large_constants/";

bool is_floating(tensorflow::DataType dtype) {
  return dtype == tensorflow::DT_FLOAT || dtype == tensorflow::DT_DOUBLE || dtype == tensorflow::DT_HALF ||
         dtype == tensorflow::DT_BFLOAT16;
}

struct Candidate {
  std::int64_t bytes = 0;
  int node = 0;  // index in the graph
};

}  // namespace

LargeConstants LargeConstants::move_to_variables(tensorflow::GraphDef& graph, std::int64_t keep_bytes,
                                                 const std::string& where) {
  LargeConstants moved;
  moved.where_ = where;
  std::vector<Candidate> candidates;
  for (int i = 0; i < graph.node_size(); ++i) {
    const tensorflow::NodeDef& node = graph.node(i);
    if (node.name().rfind(kPrefix, 0) == 0) return moved;  // not ours to rename around
    const auto dtype = node.attr().find("dtype");
    const auto value = node.attr().find("value");
    if (node.op() != "Const" || dtype == node.attr().end() || value == node.attr().end() ||
        !is_floating(dtype->second.type()) ||
        !tensorflow::TensorShape::IsValid(value->second.tensor().tensor_shape())) {
      continue;
    }
    const tensorflow::TensorShape shape(value->second.tensor().tensor_shape());
    if (shape.num_elements() < kMinimumElements) continue;
    const auto element_bytes = static_cast<std::int64_t>(tensorflow::DataTypeSize(dtype->second.type()));
    candidates.push_back({shape.num_elements() * element_bytes, i});
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
    // A constant's inputs can only be control inputs ("^x"), which must follow the data input.
    std::vector<std::string> controls(read.input().begin(), read.input().end());
    read.clear_input();
    read.add_input(handle->name());
    for (const std::string& control : controls) read.add_input(control);
    moved.bytes_ += static_cast<std::int64_t>(value.TotalBytes());
    moved.feeds_.emplace_back(placeholder->name(), std::move(value));
    moved.targets_.push_back(assign->name());
  }
  return moved;
}

void LargeConstants::assign(tensorflow::Session& session) {
  if (targets_.empty()) return;
  if (const absl::Status ran = session.Run(feeds_, {}, targets_, nullptr); !ran.ok()) {
    throw BackendError("'" + where_ + "': assigning its large constants to variables failed: " +
                       std::string(ran.message()));
  }
  feeds_.clear();
}

}  // namespace hepinfer::tf::detail
