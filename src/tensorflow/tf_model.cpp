#include "hepinfer/tensorflow/tf_model.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <unordered_set>

#include "google/protobuf/text_format.h"
#include "hepinfer/core/error.h"
#include "model_metadata.h"
#include "tensor_bridge.h"
#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/public/session.h"
#include "tensorflow/c/c_api.h"
#include "tf_status.h"

namespace hepinfer::tf {
namespace {

namespace fs = std::filesystem;

struct SessionCloser {
  void operator()(tensorflow::Session* session) const {
    if (session == nullptr) return;
    session->Close().IgnoreError();  // nothing useful to do with a failure while destroying
    delete session;
  }
};
using SessionPtr = std::unique_ptr<tensorflow::Session, SessionCloser>;

// A graph tensor a caller's name resolved to, with its metadata when the model has any.
struct ResolvedTensor {
  std::string tensor_name;
  const TensorInfo* info = nullptr;
};

class TfModel final : public Model {
 public:
  TfModel(ModelInfo info, SessionPtr session, std::unordered_set<std::string> node_names)
      : info_(std::move(info)), session_(std::move(session)), node_names_(std::move(node_names)) {}

  const ModelInfo& info() const override { return info_; }

  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options) const override {
    const SignatureInfo& signature =
        info_.signature(options.signature.empty() ? info_.default_signature : options.signature);

    std::vector<std::pair<std::string, tensorflow::Tensor>> feeds;
    std::vector<Tensor> fed_views;
    feeds.reserve(inputs.size());
    for (const NamedTensor& input : inputs) {
      const ResolvedTensor resolved = resolve(signature, input.name, /*is_input=*/true);
      if (resolved.info != nullptr) check_input_matches(*resolved.info, input.tensor, info_.path);
      for (const auto& [already_fed, unused] : feeds) {
        if (already_fed == resolved.tensor_name) {
          throw InvalidArgumentError("model '" + info_.path + "': input '" + input.name + "' (" +
                                     resolved.tensor_name + ") is fed twice");
        }
      }
      feeds.emplace_back(resolved.tensor_name, to_tf_tensor(input.tensor));
      if (input.tensor.is_view()) fed_views.push_back(input.tensor);
    }
    if (info_.format == ModelFormat::kSavedModel) check_all_inputs_fed(signature, feeds);

    std::vector<std::string> fetches;
    std::vector<std::string> fetch_labels;
    if (output_names.empty()) {
      for (const TensorInfo& output : signature.outputs) {
        fetches.push_back(output.tensor_name);
        fetch_labels.push_back(output.key);
      }
    } else {
      for (const std::string& name : output_names) {
        fetches.push_back(resolve(signature, name, /*is_input=*/false).tensor_name);
        fetch_labels.push_back(name);
      }
    }

    std::vector<tensorflow::Tensor> tf_outputs;
    throw_if_error(session_->Run(feeds, fetches, {}, &tf_outputs), "running model '" + info_.path + "'");

    std::vector<Tensor> outputs;
    outputs.reserve(tf_outputs.size());
    for (std::size_t i = 0; i < tf_outputs.size(); ++i) {
      outputs.push_back(from_tf_tensor(std::move(tf_outputs[i]), fed_views,
                                       "model '" + info_.path + "', output '" + fetch_labels[i] + "'"));
    }
    return outputs;
  }

 private:
  ResolvedTensor resolve(const SignatureInfo& signature, const std::string& name, bool is_input) const {
    const auto& keyed = is_input ? signature.inputs : signature.outputs;
    for (const TensorInfo& info : keyed) {
      if (info.key == name) return {info.tensor_name, &info};
    }
    const std::string tensor_name = canonical_tensor_name(name);
    const std::string node = tensor_name.substr(0, tensor_name.find(':'));
    const std::string index = tensor_name.substr(tensor_name.find(':') + 1);
    const bool valid_index = !index.empty() && std::all_of(index.begin(), index.end(), ::isdigit);
    if (!valid_index || !node_names_.contains(node)) {
      std::string keys;
      for (const TensorInfo& info : keyed) keys += (keys.empty() ? "'" : ", '") + info.key + "'";
      throw NotFoundError("model '" + info_.path + "': '" + name + "' is neither an " +
                          (is_input ? "input" : "output") + " of signature '" + signature.key +
                          "' (" + (keys.empty() ? "none" : keys) + ") nor a tensor of the graph");
    }
    for (const SignatureInfo& any_signature : info_.signatures) {
      for (const TensorInfo& info : is_input ? any_signature.inputs : any_signature.outputs) {
        if (info.tensor_name == tensor_name) return {tensor_name, &info};
      }
    }
    return {tensor_name, nullptr};
  }

  void check_all_inputs_fed(const SignatureInfo& signature,
                            const std::vector<std::pair<std::string, tensorflow::Tensor>>& feeds) const {
    for (const TensorInfo& expected : signature.inputs) {
      const bool fed = std::any_of(feeds.begin(), feeds.end(),
                                   [&](const auto& feed) { return feed.first == expected.tensor_name; });
      if (!fed) {
        throw InvalidArgumentError("model '" + info_.path + "': signature '" + signature.key +
                                   "' needs input '" + expected.key + "' (" +
                                   std::string(dtype_name(expected.dtype)) + expected.shape.to_string() +
                                   "), which was not given");
      }
    }
  }

  ModelInfo info_;
  SessionPtr session_;
  std::unordered_set<std::string> node_names_;
};

tensorflow::SessionOptions session_options(const LoadOptions& options) {
  tensorflow::SessionOptions session_options;
  session_options.config.set_intra_op_parallelism_threads(options.intra_op_threads);
  session_options.config.set_inter_op_parallelism_threads(options.inter_op_threads);
  session_options.config.set_allow_soft_placement(true);
  return session_options;
}

std::string choose_default_signature(const ModelInfo& info, const LoadOptions& options) {
  if (!options.signature.empty()) return info.signature(options.signature).key;  // throws if absent
  for (const SignatureInfo& signature : info.signatures) {
    if (signature.key == kDefaultSignatureKey) return signature.key;
  }
  if (info.signatures.size() == 1) return info.signatures.front().key;
  throw NotFoundError("model '" + info.path + "' has no '" + kDefaultSignatureKey + "' signature and " +
                      std::to_string(info.signatures.size()) +
                      " others; choose one with LoadOptions::signature (--signature)");
}

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw FileNotFoundError("cannot read model file '" + path.string() + "'");
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

void check_frozen(const tensorflow::GraphDef& graph, const std::string& path) {
  static const std::unordered_set<std::string> kVariableOps = {"VariableV2", "Variable", "VarHandleOp"};
  for (const auto& node : graph.node()) {
    if (kVariableOps.contains(node.op())) {
      throw InvalidModelError("'" + path + "' is not a frozen graph: node '" + node.name() + "' is a " +
                              node.op() + "; freeze it with convert_variables_to_constants first");
    }
  }
}

std::unique_ptr<Model> load_frozen_graph(const fs::path& path, const LoadOptions& options) {
  const std::string where = path.string();
  if (path.filename() == "saved_model.pb") {
    throw InvalidModelError("'" + where + "' is the graph file of a SavedModel; load its directory '" +
                            path.parent_path().string() + "' instead");
  }
  const std::string bytes = read_file(path);
  if (bytes.empty()) throw InvalidModelError("'" + where + "' is empty; expected a GraphDef (.pb)");

  tensorflow::GraphDef graph;
  const bool text = path.extension() == ".pbtxt";
  const bool parsed = text ? google::protobuf::TextFormat::ParseFromString(bytes, &graph)
                           : graph.ParseFromString(bytes);
  if (!parsed) {
    throw InvalidModelError("'" + where + "' is not a " + (text ? "text" : "binary") +
                            " GraphDef, or is truncated or corrupt (" + std::to_string(bytes.size()) +
                            " bytes could not be parsed)");
  }
  if (graph.node_size() == 0) {
    throw InvalidModelError("'" + where + "' holds no graph nodes; expected a frozen GraphDef");
  }
  check_frozen(graph, where);
  for (auto& node : *graph.mutable_node()) node.clear_device();  // placement is hepinfer's to decide

  ModelInfo info;
  info.path = where;
  info.format = ModelFormat::kFrozenGraph;
  info.signatures.push_back(frozen_graph_signature(graph, where));
  info.default_signature = choose_default_signature(info, options);

  tensorflow::Session* raw_session = nullptr;
  throw_if_error(tensorflow::NewSession(session_options(options), &raw_session),
                 "creating a session for '" + where + "'");
  SessionPtr session(raw_session);
  const absl::Status created = session->Create(graph);
  if (!created.ok()) {
    throw InvalidModelError("'" + where + "': TensorFlow rejected the graph: " + std::string(created.message()));
  }
  auto names = node_names(graph);
  return std::make_unique<TfModel>(std::move(info), std::move(session), std::move(names));
}

std::unique_ptr<Model> load_saved_model(const fs::path& path, const LoadOptions& options) {
  const std::string where = path.string();
  std::error_code ec;
  if (!fs::exists(path / "saved_model.pb", ec) && !fs::exists(path / "saved_model.pbtxt", ec)) {
    throw InvalidModelError("directory '" + where + "' is not a SavedModel: it has no saved_model.pb");
  }
  tensorflow::SavedModelBundle bundle;
  const std::unordered_set<std::string> tags(options.tags.begin(), options.tags.end());
  const absl::Status loaded =
      tensorflow::LoadSavedModel(session_options(options), tensorflow::RunOptions(), where, tags, &bundle);
  if (!loaded.ok()) {
    std::string tag_list;
    for (const auto& tag : options.tags) tag_list += (tag_list.empty() ? "" : ",") + tag;
    const std::string message(loaded.message());
    if (message.find("Could not find meta graph def matching") != std::string::npos) {
      throw NotFoundError("SavedModel '" + where + "' has no MetaGraph tagged {" + tag_list + "}: " + message);
    }
    throw InvalidModelError("cannot load SavedModel '" + where + "' (tags {" + tag_list + "}): " + message);
  }

  ModelInfo info;
  info.path = where;
  info.format = ModelFormat::kSavedModel;
  info.signatures = saved_model_signatures(bundle.meta_graph_def);
  if (info.signatures.empty()) {
    throw InvalidModelError("SavedModel '" + where + "' has no signature hepinfer can run");
  }
  info.default_signature = choose_default_signature(info, options);
  auto names = node_names(bundle.meta_graph_def.graph_def());
  return std::make_unique<TfModel>(std::move(info), SessionPtr(bundle.session.release()), std::move(names));
}

}  // namespace

std::unique_ptr<Model> load_model(const fs::path& path, const LoadOptions& options) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw FileNotFoundError("model path '" + path.string() + "' does not exist");
  if (fs::is_directory(status)) return load_saved_model(path, options);
  return load_frozen_graph(path, options);
}

std::string runtime_version() { return TF_Version(); }

}  // namespace hepinfer::tf
