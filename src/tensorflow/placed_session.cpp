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

// A new session for `model_path`, placed where the module's assignment says. `device` becomes
// the device the graph's nodes must be pinned to: the assigned one if this TensorFlow has it,
// otherwise the CPU (a CPU-only TensorFlow build, or a plan made from a simulated inventory).
SessionPtr new_placed_session(const std::string& model_path, const LoadOptions& options, std::string& device) {
  const Placement* placement = options.placement ? &*options.placement : nullptr;
  RuntimeState::SessionSetup setup = RuntimeState::instance().prepare_session(model_path, placement, options.gpu_index);
  tensorflow::Session* raw_session = nullptr;
  throw_if_error(tensorflow::NewSession(setup.options, &raw_session), "creating a session for '" + model_path + "'");
  SessionPtr session(raw_session);
  device = setup.device;
  if (device.empty()) return session;
  std::vector<tensorflow::DeviceAttributes> devices;
  throw_if_error(session->ListDevices(&devices), "listing the devices of the session for '" + model_path + "'");
  const bool present = std::any_of(devices.begin(), devices.end(), [&](const tensorflow::DeviceAttributes& attributes) {
    return attributes.name().ends_with(device);
  });
  if (!present) {
    LOG(WARNING) << "hepinfer: model '" << model_path << "' is assigned " << device
                 << ", which this TensorFlow does not have; it runs on /device:CPU:0";
    device = "/device:CPU:0";
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
