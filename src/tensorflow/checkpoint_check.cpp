#include "checkpoint_check.h"

#include <string>
#include <unordered_set>

#include "hepinfer/core/error.h"

namespace hepinfer::tf::detail {

void check_checkpoint_present(const tensorflow::MetaGraphDef& meta_graph, const std::filesystem::path& saved_model_dir) {
  static const std::unordered_set<std::string> kVariableOps = {"VarHandleOp", "VariableV2", "Variable"};
  int variables = 0;
  std::string first_variable;
  for (const auto& node : meta_graph.graph_def().node()) {
    if (!kVariableOps.contains(node.op())) continue;
    if (variables++ == 0) first_variable = node.name();
  }
  if (variables == 0) return;
  const std::filesystem::path index = saved_model_dir / "variables" / "variables.index";
  std::error_code ec;
  if (std::filesystem::is_regular_file(index, ec)) return;
  throw InvalidModelError("SavedModel '" + saved_model_dir.string() + "' has " + std::to_string(variables) +
                          " variable" + (variables == 1 ? "" : "s") + " (e.g. '" + first_variable +
                          "') but no checkpoint to restore them from: '" + index.string() +
                          "' is missing; copy the SavedModel's variables/ folder with it");
}

}  // namespace hepinfer::tf::detail
