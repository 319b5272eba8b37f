#include <unordered_set>

#include "google/protobuf/text_format.h"
#include "graph_loaders.h"
#include "large_constants.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"
#include "hepinfer/core/model_path_advice.h"
#include "model_metadata.h"
#include "op_policy.h"

namespace hepinfer::tf {
namespace {

void check_frozen(const tensorflow::GraphDef& graph, const std::string& path) {
  static const std::unordered_set<std::string> kVariableOps = {"VariableV2", "Variable", "VarHandleOp"};
  for (const auto& node : graph.node()) {
    if (kVariableOps.contains(node.op())) {
      throw InvalidModelError("'" + path + "' is not a frozen graph: node '" + node.name() + "' is a " +
                              node.op() + "; freeze it with convert_variables_to_constants first");
    }
  }
}

}  // namespace

std::unique_ptr<TfModel> load_frozen_graph(const std::filesystem::path& path, const LoadOptions& options) {
  const std::string where = path.string();
  if (path.filename() == "saved_model.pb") {
    throw InvalidModelError("'" + where + "' is the graph file of a SavedModel; load its directory '" +
                            path.parent_path().string() + "' instead");
  }
  std::string bytes = read_regular_file(path, "model file");
  if (bytes.empty()) throw InvalidModelError("'" + where + "' is empty; expected a GraphDef (.pb)");

  tensorflow::GraphDef graph;
  const bool text = path.extension() == ".pbtxt";
  const bool parsed = text ? google::protobuf::TextFormat::ParseFromString(bytes, &graph)
                           : graph.ParseFromString(bytes);
  if (!parsed || graph.node_size() == 0) {
    // Keras, ONNX and other files are not GraphDefs, though some parse as one without nodes.
    if (const auto advice = advise_on_model_path(path)) throw InvalidModelError("'" + where + "' " + *advice);
  }
  if (!parsed) {
    throw InvalidModelError("'" + where + "' is not a " + (text ? "text" : "binary") +
                            " GraphDef, or is truncated or corrupt (" + std::to_string(bytes.size()) +
                            " bytes could not be parsed)");
  }
  if (graph.node_size() == 0) {
    throw InvalidModelError("'" + where + "' holds no graph nodes; expected a frozen GraphDef");
  }
  std::string().swap(bytes);  // the graph holds the weights now; not twice
  check_frozen(graph, where);
  std::unordered_set<std::string> unfetchable =
      detail::check_ops(graph, nullptr, std::nullopt, detail::op_policy_of(options), where);
  for (auto& node : *graph.mutable_node()) node.clear_device();  // placement is hepinfer's to decide

  ModelInfo info;
  info.path = where;
  info.backend = kBackendName;
  info.format = kFrozenGraphFormat;
  info.signatures.push_back(frozen_graph_signature(graph, where));
  info.default_signature = choose_default_signature(info, options);
  info.threading = options.threading;

  auto names = node_names(graph);  // the model's own; not the nodes added below
  detail::LargeConstants large = detail::LargeConstants::move_to_variables(graph, options.freeze_limit_bytes, where);
  if (large.count() > 0) {
    info.load_details.emplace_back(
        "constants", std::to_string(large.count()) + " large constants (" + std::to_string(large.bytes()) +
                         " bytes) held as variables: beyond the freeze limit of " +
                         std::to_string(options.freeze_limit_bytes) + " bytes");
  }

  SessionPtr session = new_placed_session(where, options, info);
  if (!info.device.empty()) pin_to_device(graph, info.device);
  const absl::Status created = session->Create(graph);
  if (!created.ok()) {
    throw InvalidModelError("'" + where + "': TensorFlow rejected the graph: " + std::string(created.message()));
  }
  large.assign(*session);
  return std::make_unique<TfModel>(std::move(info), std::move(session), std::move(names), std::move(unfetchable));
}

}  // namespace hepinfer::tf
