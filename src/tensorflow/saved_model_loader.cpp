#include <optional>
#include <unordered_set>
#include <vector>

#include "asset_policy.h"
#include "checkpoint_check.h"
#include "graph_loaders.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/model_path_advice.h"
#include "model_metadata.h"
#include "object_graph_restore.h"
#include "op_policy.h"
#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/cc/saved_model/reader.h"

namespace hepinfer::tf {

namespace fs = std::filesystem;

namespace {

// The op TF's loader runs once the variables are restored, found as tensorflow::LoadSavedModel
// finds it: TF2 names it in the `__saved_model_init_op` signature (lookup tables from their
// assets); TF1 exports in their main-op or legacy-init-op collection (tables, local variables).
std::optional<std::string> init_op_of(const tensorflow::MetaGraphDef& meta_graph, const std::string& where) {
  if (const auto signature = meta_graph.signature_def().find("__saved_model_init_op");
      signature != meta_graph.signature_def().end()) {
    const auto output = signature->second.outputs().find("__saved_model_init_op");
    if (output == signature->second.outputs().end()) return std::nullopt;
    return node_name_of(output->second.name());
  }
  for (const char* key : {"saved_model_main_op", "legacy_init_op"}) {
    const auto collection = meta_graph.collection_def().find(key);
    if (collection == meta_graph.collection_def().end()) continue;
    if (collection->second.node_list().value_size() != 1) {
      throw InvalidModelError("SavedModel '" + where + "': its '" + key + "' collection must name one op, it has " +
                              std::to_string(collection->second.node_list().value_size()));
    }
    return node_name_of(collection->second.node_list().value(0));
  }
  return std::nullopt;
}

// What runs and the loader can reach: the signatures' tensors and the init op.
std::vector<std::string> runnable_roots(const SavedModelSignatures& signatures, const std::optional<std::string>& init_op) {
  std::vector<std::string> roots;
  for (const SignatureInfo& signature : signatures.runnable) {
    for (const auto* tensors : {&signature.inputs, &signature.outputs}) {
      for (const TensorInfo& tensor : *tensors) roots.push_back(tensor.tensor_name);
    }
  }
  if (init_op.has_value()) roots.push_back(*init_op);
  return roots;
}

// TF's loader runs the init op with every asset tensor fed its file's path.
void run_init_op(tensorflow::Session& session, const std::optional<std::string>& init_op,
                 const detail::AssetBinding& assets, const std::string& where) {
  if (!init_op.has_value()) return;
  if (const absl::Status ran = session.Run(assets.feeds, {}, {*init_op}, nullptr); !ran.ok()) {
    throw InvalidModelError("SavedModel '" + where + "': its init op '" + *init_op + "' failed: " +
                            std::string(ran.message()));
  }
}

}  // namespace

std::unique_ptr<TfModel> load_saved_model(const std::filesystem::path& path, const LoadOptions& options) {
  const std::string where = path.string();
  std::error_code ec;
  if (!fs::exists(path / "saved_model.pb", ec) && !fs::exists(path / "saved_model.pbtxt", ec)) {
    if (const auto advice = advise_on_model_path(path)) throw InvalidModelError("'" + where + "' " + *advice);
    throw InvalidModelError("directory '" + where + "' is not a SavedModel: it has no saved_model.pb");
  }
  const std::unordered_set<std::string> tags(options.tags.begin(), options.tags.end());
  std::string tag_list;
  for (const auto& tag : options.tags) tag_list += (tag_list.empty() ? "" : ",") + tag;
  auto invalid = [&](const absl::Status& status) {
    return InvalidModelError("cannot load SavedModel '" + where + "' (tags {" + tag_list + "}): " +
                             std::string(status.message()));
  };
  tensorflow::MetaGraphDef meta_graph;
  if (const absl::Status read = tensorflow::ReadMetaGraphDefFromSavedModel(where, tags, &meta_graph); !read.ok()) {
    if (read.message().find("Could not find meta graph def matching") != std::string::npos) {
      throw NotFoundError("SavedModel '" + where + "' has no MetaGraph tagged {" + tag_list + "}: " +
                          std::string(read.message()));
    }
    throw invalid(read);
  }
  const SavedModelSignatures signatures = saved_model_signatures(meta_graph);
  // Before anything is loaded: a model hepinfer cannot run should fail fast, saying why.
  if (signatures.runnable.empty() && signatures.left_out.empty()) {
    throw InvalidModelError("SavedModel '" + where + "' has no signatures, so nothing says what to feed and fetch; "
                            "save it with one: tf.saved_model.save(model, DIR, signatures={'serving_default': "
                            "function}), or Keras' model.export(DIR)");
  }
  if (signatures.runnable.empty()) {
    throw UnsupportedError("SavedModel '" + where + "' has no signature hepinfer can run: " +
                           signatures.why_left_out() + "; hepinfer takes " + std::string(supported_dtype_names()));
  }
  // Asked for, or the default when none is asked for: another signature is not what the caller meant.
  const std::string wanted = options.signature.empty() ? std::string(kDefaultSignatureKey) : options.signature;
  if (const auto refused = signatures.left_out.find(wanted); refused != signatures.left_out.end()) {
    std::string runnable;
    for (const SignatureInfo& signature : signatures.runnable) runnable += (runnable.empty() ? "" : ", ") + signature.key;
    throw UnsupportedError("SavedModel '" + where + "', signature '" + refused->first + "': " + refused->second +
                           "; hepinfer takes " + std::string(supported_dtype_names()) +
                           "; choose another with --signature (" + runnable + ")");
  }
  // Table initialisers may read the model's own assets and nothing else (asset_policy.h).
  detail::OpPolicy policy = detail::op_policy_of(options);
  const detail::AssetBinding assets = detail::bind_assets(meta_graph, path, policy);
  policy.vouched_nodes = assets.vouched_nodes;
  const std::optional<std::string> init_op = init_op_of(meta_graph, where);
  std::unordered_set<std::string> unfetchable =
      detail::check_ops(meta_graph.graph_def(), meta_graph.has_saver_def() ? &meta_graph.saver_def() : nullptr,
                        runnable_roots(signatures, init_op), policy, where);
  detail::check_checkpoint_present(meta_graph, path);
  // The steps of tensorflow::LoadSavedModel, with the graph pinned to the module's device between
  // creating the session and restoring the variables.
  ModelInfo info;
  SessionPtr placed = new_placed_session(where, options, info);
  if (!info.device.empty()) pin_to_device(*meta_graph.mutable_graph_def(), info.device);
  // Captured variables that only the object graph binds are restored after TF's loader restored
  // the checkpoint (where it must), by nodes added to the session's graph (object_graph_restore.h).
  tensorflow::GraphDef session_graph = meta_graph.graph_def();
  detail::ObjectGraphRestore bound =
      detail::ObjectGraphRestore::prepare(meta_graph, path, session_graph, options.freeze_variables,
                                          options.freeze_limit_bytes);
  if (const absl::Status created = placed->Create(session_graph); !created.ok()) throw invalid(created);
  std::unique_ptr<tensorflow::Session> session(placed.release());
  // TF's restore through the checkpoint's saver, only where the runs read state the object graph's
  // restore does not fill: otherwise it would hold the weights a second time, in handles nobody reads.
  const absl::Status restored = bound.checkpoint_unneeded()
                                    ? absl::OkStatus()
                                    : tensorflow::RestoreSession(tensorflow::RunOptions(), meta_graph, where, &session);
  SessionPtr owned(session.release());
  if (!restored.ok()) throw invalid(restored);
  bound.apply(*owned);
  run_init_op(*owned, init_op, assets, where);

  info.path = where;
  info.backend = kBackendName;
  info.format = kSavedModelFormat;
  info.signatures = signatures.runnable;
  if (!signatures.left_out.empty()) info.load_details.emplace_back("signatures left out", signatures.why_left_out());
  info.default_signature = choose_default_signature(info, options);
  info.threading = options.threading;
  info.load_details.emplace_back(
      "variables", bound.variables() > 0
                       ? std::to_string(bound.variables()) + " captured variables bound through the object graph (" +
                             std::to_string(bound.bytes()) + " bytes); " + std::to_string(bound.frozen_reads()) +
                             " reads frozen into constants, " + std::to_string(bound.live_variables()) +
                             " variables live" +
                             (bound.over_freeze_limit() > 0
                                  ? " (" + std::to_string(bound.over_freeze_limit()) +
                                        " not frozen: beyond the freeze limit of " +
                                        std::to_string(options.freeze_limit_bytes) + " bytes)"
                                  : "") +
                             (!bound.checkpoint_unneeded() ? ""
                              : bound.live_variables() > 0
                                  ? "; each live variable read from the checkpoint directly, its saver not run"
                                  : "; checkpoint not restored")
                       : (meta_graph.has_saver_def() ? "restored by the checkpoint's saver" : "none"));
  if (!assets.feeds.empty()) {
    info.load_details.emplace_back("assets", std::to_string(assets.feeds.size()) + " (" +
                                                 std::to_string(assets.vouched_nodes.size()) +
                                                 " table initialisers reading them)");
  }
  auto names = node_names(meta_graph.graph_def());
  return std::make_unique<TfModel>(std::move(info), std::move(owned), std::move(names), std::move(unfetchable));
}

}  // namespace hepinfer::tf
