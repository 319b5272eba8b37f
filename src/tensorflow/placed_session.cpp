#include <algorithm>
#include <vector>

#include "graph_loaders.h"
#include "hepinfer/core/error.h"
#include "model_metadata.h"
#include "runtime_state.h"
#include "tensorflow/core/platform/logging.h"
#include "tf_status.h"

namespace hepinfer::tf {

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

// A new session for `model_path`, placed where the module's assignment says (see graph_loaders.h).
SessionPtr new_placed_session(const std::string& model_path, const LoadOptions& options, ModelInfo& info) {
  const Placement* placement = options.placement ? &*options.placement : nullptr;
  RuntimeState::SessionSetup setup = RuntimeState::instance().prepare_session(model_path, placement, options.gpu_index);
  tensorflow::Session* raw_session = nullptr;
  throw_if_error(tensorflow::NewSession(setup.options, &raw_session), "creating a session for '" + model_path + "'");
  SessionPtr session(raw_session);
  info.device = setup.device;
  info.gpu.reset();
  if (info.device.empty()) return session;
  std::vector<tensorflow::DeviceAttributes> devices;
  throw_if_error(session->ListDevices(&devices), "listing the devices of the session for '" + model_path + "'");
  const bool present = std::any_of(devices.begin(), devices.end(), [&](const tensorflow::DeviceAttributes& attributes) {
    return attributes.name().ends_with(info.device);
  });
  const bool wants_gpu = info.device.find("GPU") != std::string::npos;
  if (!present) {
    LOG(WARNING) << "hepinfer: model '" << model_path << "' is assigned " << info.device
                 << ", which this TensorFlow does not have; it runs on /device:CPU:0";
    info.placement_note = "assigned " + info.device + ", which this TensorFlow does not have (" +
                          (wants_gpu ? "no GPU support, or no such GPU" : "no such device") + "); runs on the CPU";
    info.device = "/device:CPU:0";
  } else if (wants_gpu && placement != nullptr && options.gpu_index < placement->devices.size()) {
    info.gpu = placement->devices[options.gpu_index];
  }
  return session;
}

// Every node goes to `device`, except nodes the exporter pinned to a CPU on purpose (string
// handling, savers); placements on whatever GPU the model was exported from are replaced.
void pin_to_device(tensorflow::GraphDef& graph, const std::string& device) {
  for (auto& node : *graph.mutable_node()) {
    if (node.device().find("CPU") == std::string::npos) node.set_device(device);
  }
}

}  // namespace hepinfer::tf
