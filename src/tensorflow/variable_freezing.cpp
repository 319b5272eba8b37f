#include "variable_freezing.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model_metadata.h"
#include "tensorflow/core/framework/function.pb.h"
#include "tensorflow/core/framework/node_def.pb.h"
#include "tensorflow/core/framework/tensor.pb.h"

namespace hepinfer::tf::detail {
namespace {

constexpr int kMaxDepth = 32;

bool is_call(const tensorflow::NodeDef& node) {
  return node.op() == "StatefulPartitionedCall" || node.op() == "PartitionedCall";
}

// Positions (among data inputs) of `node` that refer to `name`.
std::vector<int> positions_of(const tensorflow::NodeDef& node, const std::string& name) {
  std::vector<int> positions;
  int position = 0;
  for (const auto& input : node.input()) {
    if (input.starts_with('^')) continue;
    if (input == name) positions.push_back(position);
    ++position;
  }
  return positions;
}

// Removes the data inputs at `positions` (ascending) from `node`, and their entries in the call's
// per-input attributes.
void drop_inputs(tensorflow::NodeDef& node, const std::vector<int>& positions) {
  std::vector<std::string> kept;
  int position = 0;
  for (const auto& input : node.input()) {
    const bool data = !input.starts_with('^');
    if (!data || !std::binary_search(positions.begin(), positions.end(), position)) kept.push_back(input);
    if (data) ++position;
  }
  node.clear_input();
  for (const auto& input : kept) node.add_input(input);
  auto& attrs = *node.mutable_attr();
  if (const auto tin = attrs.find("Tin"); tin != attrs.end()) {
    auto* types = tin->second.mutable_list()->mutable_type();
    for (auto p = positions.rbegin(); p != positions.rend(); ++p) {
      if (*p < types->size()) types->erase(types->begin() + *p);
    }
  }
  if (const auto read_only = attrs.find("_read_only_resource_inputs"); read_only != attrs.end()) {
    auto* indices = read_only->second.mutable_list()->mutable_i();
    std::vector<std::int64_t> shifted;
    for (const std::int64_t index : *indices) {
      if (std::binary_search(positions.begin(), positions.end(), static_cast<int>(index))) continue;
      const auto before = std::lower_bound(positions.begin(), positions.end(), static_cast<int>(index));
      shifted.push_back(index - (before - positions.begin()));
    }
    indices->Clear();
    for (const std::int64_t index : shifted) indices->Add(index);
  }
}

class Freezer {
 public:
  explicit Freezer(tensorflow::GraphDef& graph) : graph_(graph) {
    for (const auto& function : graph.library().function()) functions_[function.signature().name()] = function;
  }

  // The function a call node calls, if it is one of the library's.
  std::string callee(const tensorflow::NodeDef& node) const {
    if (functions_.contains(node.op())) return node.op();
    const auto f = node.attr().find("f");
    if (is_call(node) && f != node.attr().end() && functions_.contains(f->second.func().name())) {
      return f->second.func().name();
    }
    return {};
  }

  // Whether argument `index` of `function` is a resource only read (ReadVariableOp) or passed on
  // to calls that only read it.
  bool freezable(const std::string& function, int index, int depth = 0) {
    if (depth > kMaxDepth) return false;
    const auto key = std::make_pair(function, index);
    if (const auto known = freezable_.find(key); known != freezable_.end()) return known->second;
    freezable_[key] = false;  // recursion through a cycle: not freezable
    const tensorflow::FunctionDef& body = functions_.at(function);
    if (index >= body.signature().input_arg_size()) return false;
    const auto& arg = body.signature().input_arg(index);
    if (arg.type() != tensorflow::DT_RESOURCE) return false;
    bool result = true;
    for (const auto& [output, value] : body.ret()) {
      if (node_name_of(value) == arg.name()) result = false;
    }
    for (const auto& node : body.node_def()) {
      for (const auto& input : node.input()) {
        if (input == "^" + arg.name()) result = false;
      }
      const std::vector<int> positions = positions_of(node, arg.name());
      if (positions.empty()) continue;
      if (node.op() == "ReadVariableOp" && positions == std::vector<int>{0}) continue;
      const std::string called = callee(node);
      if (called.empty()) {
        result = false;
        continue;
      }
      for (const int position : positions) result = result && freezable(called, position, depth + 1);
    }
    freezable_[key] = result;
    return result;
  }

  // A copy of `function` without the arguments in `frozen` (index -> value), which it reads as
  // constants instead; its name.
  std::string rewrite(const std::string& function, const std::map<int, const tensorflow::Tensor*>& frozen) {
    std::string key = function;
    for (const auto& [index, value] : frozen) {
      key.append("|").append(std::to_string(index)).append("@");
      key.append(std::to_string(reinterpret_cast<std::uintptr_t>(value)));
    }
    if (const auto done = rewritten_.find(key); done != rewritten_.end()) return done->second;
    tensorflow::FunctionDef copy = functions_.at(function);
    const std::string name = function + "_hepinfer_frozen_" + std::to_string(rewritten_.size());
    copy.mutable_signature()->set_name(name);
    std::map<std::string, const tensorflow::Tensor*> by_arg;
    for (const auto& [index, value] : frozen) by_arg[copy.signature().input_arg(index).name()] = value;

    std::vector<std::pair<std::string, std::string>> renamed;  // "node:value:" -> "node:output:"
    for (auto& node : *copy.mutable_node_def()) {
      if (node.op() == "ReadVariableOp" && node.input_size() > 0 && by_arg.contains(node.input(0))) {
        const tensorflow::Tensor& value = *by_arg.at(node.input(0));
        std::vector<std::string> controls;
        for (const auto& input : node.input()) {
          if (input.starts_with('^')) controls.push_back(input);
        }
        node.clear_input();
        for (const auto& control : controls) node.add_input(control);
        node.set_op("Const");
        node.clear_attr();
        (*node.mutable_attr())["dtype"].set_type(value.dtype());
        value.AsProtoTensorContent((*node.mutable_attr())["value"].mutable_tensor());
        renamed.emplace_back(node.name() + ":value:", node.name() + ":output:");
        ++constants_;
        bytes_ += static_cast<std::int64_t>(value.TotalBytes());
        continue;
      }
      const std::string called = callee(node);
      if (called.empty()) continue;
      std::map<int, const tensorflow::Tensor*> passed;
      for (const auto& [arg, value] : by_arg) {
        for (const int position : positions_of(node, arg)) passed[position] = value;
      }
      if (!passed.empty()) redirect_call(node, called, passed);
    }
    auto rename = [&](std::string& reference) {
      for (const auto& [from, to] : renamed) {
        if (reference.starts_with(from)) reference = to + reference.substr(from.size());
      }
    };
    for (auto& node : *copy.mutable_node_def()) {
      for (auto& input : *node.mutable_input()) rename(input);
    }
    for (auto& [output, value] : *copy.mutable_ret()) rename(value);
    drop_arguments(copy, frozen);
    functions_[name] = copy;
    *graph_.mutable_library()->add_function() = copy;
    rewritten_[key] = name;
    return name;
  }

  // Makes call `node` of `called` call the copy without the `frozen` arguments, which it no
  // longer passes.
  void redirect_call(tensorflow::NodeDef& node, const std::string& called,
                     const std::map<int, const tensorflow::Tensor*>& frozen) {
    const std::string replacement = rewrite(called, frozen);
    if (node.op() == called) {
      node.set_op(replacement);
    } else {
      (*node.mutable_attr())["f"].mutable_func()->set_name(replacement);
    }
    std::vector<int> positions;
    for (const auto& [index, value] : frozen) positions.push_back(index);
    drop_inputs(node, positions);
  }

  int constants() const { return constants_; }
  std::int64_t bytes() const { return bytes_; }

 private:
  // Removes the frozen arguments from `function`'s signature and re-indexes what is per argument.
  static void drop_arguments(tensorflow::FunctionDef& function, const std::map<int, const tensorflow::Tensor*>& frozen) {
    const int count = function.signature().input_arg_size();
    std::vector<int> new_index(static_cast<std::size_t>(count), -1);
    int next = 0;
    for (int i = 0; i < count; ++i) {
      if (!frozen.contains(i)) new_index[static_cast<std::size_t>(i)] = next++;
    }
    auto* args = function.mutable_signature()->mutable_input_arg();
    for (auto f = frozen.rbegin(); f != frozen.rend(); ++f) args->erase(args->begin() + f->first);
    google::protobuf::Map<std::uint32_t, tensorflow::FunctionDef::ArgAttrs> arg_attr;
    for (const auto& [index, attrs] : function.arg_attr()) {
      if (index < new_index.size() && new_index[index] >= 0) arg_attr[static_cast<std::uint32_t>(new_index[index])] = attrs;
    }
    *function.mutable_arg_attr() = arg_attr;
    google::protobuf::Map<std::uint32_t, std::uint32_t> unique_ids;
    for (const auto& [index, id] : function.resource_arg_unique_id()) {
      if (index < new_index.size() && new_index[index] >= 0) unique_ids[static_cast<std::uint32_t>(new_index[index])] = id;
    }
    *function.mutable_resource_arg_unique_id() = unique_ids;
    auto& attrs = *function.mutable_attr();
    if (const auto shapes = attrs.find("_input_shapes"); shapes != attrs.end()) {
      auto* list = shapes->second.mutable_list()->mutable_shape();
      if (list->size() == count) {
        for (auto f = frozen.rbegin(); f != frozen.rend(); ++f) list->erase(list->begin() + f->first);
      }
    }
  }

  tensorflow::GraphDef& graph_;
  std::unordered_map<std::string, tensorflow::FunctionDef> functions_;
  std::map<std::pair<std::string, int>, bool> freezable_;
  std::map<std::string, std::string> rewritten_;
  int constants_ = 0;
  std::int64_t bytes_ = 0;
};

// The main-graph nodes `roots` depend on.
std::unordered_set<std::string> needed_by(const tensorflow::GraphDef& graph, const std::unordered_set<std::string>& roots) {
  std::unordered_map<std::string, const tensorflow::NodeDef*> nodes;
  for (const auto& node : graph.node()) nodes[node.name()] = &node;
  std::unordered_set<std::string> needed;
  std::vector<std::string> pending(roots.begin(), roots.end());
  while (!pending.empty()) {
    const std::string name = pending.back();
    pending.pop_back();
    const auto node = nodes.find(name);
    if (node == nodes.end() || !needed.insert(name).second) continue;
    for (const auto& input : node->second->input()) pending.push_back(node_name_of(input));
  }
  return needed;
}

}  // namespace

FreezeResult freeze_read_only_variables(tensorflow::GraphDef& graph,
                                        const std::map<std::string, tensorflow::Tensor>& values,
                                        const std::unordered_set<std::string>& serving_roots,
                                        const std::unordered_set<std::string>& other_roots) {
  const std::unordered_set<std::string> served = needed_by(graph, serving_roots);
  Freezer freezer(graph);
  for (auto& node : *graph.mutable_node()) {
    const std::string called = freezer.callee(node);
    if (called.empty() || !served.contains(node.name())) continue;
    std::map<int, const tensorflow::Tensor*> frozen;
    int position = 0;
    for (const auto& input : node.input()) {
      if (input.starts_with('^')) continue;
      const std::string handle = node_name_of(input);
      const auto value = values.find(handle);
      if (value != values.end() && (input == handle || input == handle + ":0") &&
          freezer.freezable(called, position)) {
        frozen[position] = &value->second;
      }
      ++position;
    }
    if (!frozen.empty()) freezer.redirect_call(node, called, frozen);
  }
  // A variable is still needed if anything the signatures or the other roots (the init op) run
  // reads it after the rewrite.
  std::unordered_set<std::string> roots = serving_roots;
  roots.insert(other_roots.begin(), other_roots.end());
  std::unordered_set<std::string> still_read;
  for (const std::string& name : needed_by(graph, roots)) {
    if (!values.contains(name)) still_read.insert(name);
  }
  std::unordered_set<std::string> live;
  for (const auto& node : graph.node()) {
    if (!still_read.contains(node.name())) continue;
    for (const auto& input : node.input()) {
      if (values.contains(node_name_of(input))) live.insert(node_name_of(input));
    }
  }
  FreezeResult result{.constants = freezer.constants(), .bytes = freezer.bytes(), .handles = {}};
  for (const auto& [handle, value] : values) {
    if (!live.contains(handle)) result.handles.insert(handle);
  }
  return result;
}

std::unordered_set<std::string> stateful_nodes_needed_by(const tensorflow::GraphDef& graph,
                                                         const std::unordered_set<std::string>& roots) {
  const std::unordered_set<std::string> needed = needed_by(graph, roots);
  std::unordered_set<std::string> stateful;
  for (const auto& node : graph.node()) {
    const bool holds_state = node.op() == "VarHandleOp" || node.op() == "VariableV2" || node.op() == "Variable" ||
                             node.op().starts_with("Mutable");  // MutableHashTableV2, MutableDenseHashTableV2, ...
    if (holds_state && needed.contains(node.name())) stateful.insert(node.name());
  }
  return stateful;
}

}  // namespace hepinfer::tf::detail
