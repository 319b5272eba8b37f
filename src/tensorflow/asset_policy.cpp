#include "asset_policy.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "hepinfer/core/error.h"
#include "model_metadata.h"
#include "tensorflow/core/framework/function.pb.h"
#include "tensorflow/core/framework/node_def.pb.h"
#include "tensorflow/core/framework/tensor.pb.h"

namespace hepinfer::tf::detail {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxTraceDepth = 64;

bool inside(const fs::path& path, const fs::path& directory) {
  const auto [stop, unused] = std::mismatch(directory.begin(), directory.end(), path.begin(), path.end());
  return stop == directory.end();
}

std::string const_text(const tensorflow::NodeDef& node) {
  const auto value = node.attr().find("value");
  if (value == node.attr().end() || value->second.tensor().string_val_size() == 0) return "(not a string)";
  return value->second.tensor().string_val(0);
}

// Follows where a file name comes from, back to the node that makes it: through function
// arguments to their call sites, Identity, and variables to what is assigned to them. Every path
// must end at an asset tensor.
class FileNameTracer {
 public:
  FileNameTracer(const tensorflow::MetaGraphDef& meta_graph, const std::unordered_set<std::string>& asset_nodes,
                 std::string where)
      : asset_nodes_(asset_nodes), where_(std::move(where)) {
    const auto& graph = meta_graph.graph_def();
    for (const auto& node : graph.node()) main_[node.name()] = &node;
    for (const auto& function : graph.library().function()) functions_[function.signature().name()] = &function;
    auto index_calls = [&](const std::string& container, const tensorflow::NodeDef& node) {
      if (functions_.contains(node.op())) calls_[node.op()].push_back({container, &node});
      const auto f = node.attr().find("f");
      if ((node.op() == "StatefulPartitionedCall" || node.op() == "PartitionedCall") && f != node.attr().end()) {
        calls_[f->second.func().name()].push_back({container, &node});
      }
    };
    for (const auto& node : graph.node()) index_calls("", node);
    for (const auto& function : graph.library().function()) {
      for (const auto& node : function.node_def()) index_calls(function.signature().name(), node);
    }
  }

  // Throws PermissionDeniedError unless `input` of node `reader` (in `function`, "" for the main
  // graph) comes from an asset.
  void check(const std::string& function, const std::string& reader, const std::string& input) {
    reader_ = function.empty() ? "node '" + reader + "'" : "node '" + reader + "' of function '" + function + "'";
    trace(function, input, 0);
  }

 private:
  struct CallSite {
    std::string container;
    const tensorflow::NodeDef* node;
  };

  [[noreturn]] void refuse(const std::string& why) const {
    throw PermissionDeniedError("SavedModel '" + where_ + "': " + reader_ + " (" + kFileTableInitializer +
                                ") reads a file " + why + "; only the model's own assets may be read. If you trust "
                                "this model, allow it with LoadOptions::allowed_ops (CLI: --allow-op " +
                                kFileTableInitializer + ") or allow_unsafe_ops");
  }

  static std::vector<std::string> data_inputs(const tensorflow::NodeDef& node) {
    std::vector<std::string> inputs;
    for (const auto& input : node.input()) {
      if (!input.starts_with('^')) inputs.push_back(input);
    }
    return inputs;
  }

  void trace(const std::string& function, const std::string& input, int depth) {
    if (depth > kMaxTraceDepth) refuse("whose name is computed too deep to follow");
    if (function.empty()) return trace_main(node_name_of(input), depth + 1);
    const tensorflow::FunctionDef& body = *functions_.at(function);
    const std::string name = input.substr(0, input.find(':'));
    const auto& args = body.signature().input_arg();
    for (int i = 0; i < args.size(); ++i) {
      if (args[i].name() != name) continue;
      const auto sites = calls_.find(function);
      if (sites == calls_.end() || sites->second.empty()) refuse("named by argument '" + name + "', which nothing passes");
      for (const CallSite& site : sites->second) {
        const std::vector<std::string> inputs = data_inputs(*site.node);
        if (i >= static_cast<int>(inputs.size())) refuse("named by an argument its caller does not pass");
        trace(site.container, inputs[static_cast<std::size_t>(i)], depth + 1);
      }
      return;
    }
    const auto node = std::find_if(body.node_def().begin(), body.node_def().end(),
                                   [&](const tensorflow::NodeDef& n) { return n.name() == name; });
    if (node == body.node_def().end()) refuse("named by '" + input + "', which function '" + function + "' lacks");
    follow(*node, function, depth);
  }

  void trace_main(const std::string& name, int depth) {
    const auto node = main_.find(name);
    if (node == main_.end()) refuse("named by '" + name + "', which the graph lacks");
    if (node->second->op() == "Placeholder" && asset_nodes_.contains(name)) return;  // an asset
    follow(*node->second, "", depth);
  }

  // A node inside `function` ("" for the main graph) that makes a file name.
  void follow(const tensorflow::NodeDef& node, const std::string& function, int depth) {
    const std::string& op = node.op();
    if (op == "Const") refuse("named by a constant: '" + const_text(node) + "'");
    if (op == "Placeholder") refuse("named by '" + node.name() + "', fed at run time");
    const std::vector<std::string> inputs = data_inputs(node);
    if ((op == "Identity" || op == "Snapshot" || op == "IdentityN") && !inputs.empty()) {
      return trace(function, inputs[0], depth + 1);
    }
    if (op == "ReadVariableOp" && !inputs.empty()) return trace_variable(function, inputs[0], depth + 1);
    refuse("whose name is computed by '" + node.name() + "' (" + op + ")");
  }

  // The variable behind the resource `handle`: every value assigned to it must be an asset.
  void trace_variable(const std::string& function, const std::string& handle, int depth) {
    const std::string variable = main_handle(function, handle, depth);
    bool assigned = false;
    for (const auto& [name, node] : main_) {
      const std::vector<std::string> inputs = data_inputs(*node);
      if (node->op() != "AssignVariableOp" || inputs.size() < 2 || node_name_of(inputs[0]) != variable) continue;
      assigned = true;
      trace_main(node_name_of(inputs[1]), depth + 1);
    }
    if (!assigned) refuse("named by variable '" + variable + "', which nothing assigns");
  }

  // The main graph's VarHandleOp a resource reference inside `function` comes from.
  std::string main_handle(const std::string& function, const std::string& handle, int depth) {
    if (depth > kMaxTraceDepth) refuse("whose name is computed too deep to follow");
    if (function.empty()) {
      const auto node = main_.find(node_name_of(handle));
      if (node == main_.end() || node->second->op() != "VarHandleOp") refuse("named by a variable hepinfer cannot find");
      return node->first;
    }
    const tensorflow::FunctionDef& body = *functions_.at(function);
    const std::string name = handle.substr(0, handle.find(':'));
    const auto& args = body.signature().input_arg();
    for (int i = 0; i < args.size(); ++i) {
      if (args[i].name() != name) continue;
      const auto sites = calls_.find(function);
      if (sites == calls_.end() || sites->second.size() != 1) refuse("named by a variable passed from several places");
      const CallSite& site = sites->second.front();
      const std::vector<std::string> inputs = data_inputs(*site.node);
      if (i >= static_cast<int>(inputs.size())) refuse("named by an argument its caller does not pass");
      return main_handle(site.container, inputs[static_cast<std::size_t>(i)], depth + 1);
    }
    refuse("named by a variable made inside function '" + function + "'");
  }

  const std::unordered_set<std::string>& asset_nodes_;
  std::string where_;
  std::string reader_;
  std::unordered_map<std::string, const tensorflow::NodeDef*> main_;
  std::unordered_map<std::string, const tensorflow::FunctionDef*> functions_;
  std::unordered_map<std::string, std::vector<CallSite>> calls_;
};

}  // namespace

AssetBinding bind_assets(const tensorflow::MetaGraphDef& meta_graph, const fs::path& saved_model_dir,
                         const OpPolicy& policy) {
  const std::string where = saved_model_dir.string();
  const bool trusted = policy.allow_all || std::find(policy.extra_allowed.begin(), policy.extra_allowed.end(),
                                                     kFileTableInitializer) != policy.extra_allowed.end();
  AssetBinding binding;
  std::unordered_set<std::string> asset_nodes;
  std::error_code ec;
  const fs::path directory = fs::weakly_canonical(saved_model_dir, ec);
  for (const auto& asset : meta_graph.asset_file_def()) {
    const std::string tensor = asset.tensor_info().name();
    const fs::path path = fs::weakly_canonical(saved_model_dir / "assets" / asset.filename(), ec);
    if (!trusted && (ec || !inside(path, directory))) {
      throw PermissionDeniedError("SavedModel '" + where + "': asset '" + asset.filename() + "' (tensor '" + tensor +
                                  "') resolves to '" + path.string() +
                                  "', outside the model's directory; if you trust this model, allow it with "
                                  "LoadOptions::allowed_ops (CLI: --allow-op " + kFileTableInitializer +
                                  ") or allow_unsafe_ops");
    }
    if (!fs::is_regular_file(path, ec)) {
      throw FileNotFoundError("SavedModel '" + where + "': asset '" + asset.filename() + "' is not a file at '" +
                              path.string() + "'; copy the SavedModel's assets/ folder with it");
    }
    asset_nodes.insert(node_name_of(tensor));
    tensorflow::Tensor value(tensorflow::DT_STRING, tensorflow::TensorShape({}));
    value.scalar<tensorflow::tstring>()() = path.string();
    binding.feeds.emplace_back(tensor, std::move(value));
  }

  FileNameTracer tracer(meta_graph, asset_nodes, where);
  auto check = [&](const std::string& function, const tensorflow::NodeDef& node) {
    if (node.op() != kFileTableInitializer) return;
    const auto inputs = node.input();
    if (!trusted) {
      if (inputs.size() < 2) throw InvalidModelError("SavedModel '" + where + "': node '" + node.name() + "' lacks its file name");
      tracer.check(function, node.name(), inputs[1]);
    }
    binding.vouched_nodes.insert(function + "/" + node.name());
  };
  for (const auto& node : meta_graph.graph_def().node()) check("", node);
  for (const auto& function : meta_graph.graph_def().library().function()) {
    for (const auto& node : function.node_def()) check(function.signature().name(), node);
  }
  return binding;
}

}  // namespace hepinfer::tf::detail
