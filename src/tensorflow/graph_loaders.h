#pragma once
// Reading a frozen GraphDef or a SavedModel into a session placed where the module's placement
// says, after the model passed hepinfer's checks (op allowlist, frozen, checkpoint present).

#include <filesystem>
#include <memory>
#include <string>

#include "hepinfer/core/load_options.h"
#include "session_model.h"
#include "tensorflow/core/framework/graph.pb.h"

namespace hepinfer::tf {

std::unique_ptr<TfModel> load_frozen_graph(const std::filesystem::path& path, const LoadOptions& options);
std::unique_ptr<TfModel> load_saved_model(const std::filesystem::path& path, const LoadOptions& options);

// The signature runs use when they name none: LoadOptions::signature, "serving_default", or the
// model's only one. Throws NotFoundError otherwise.
std::string choose_default_signature(const ModelInfo& info, const LoadOptions& options);

// A new session for `model_path`, placed where the module's assignment says. `info.device`
// becomes the device the graph's nodes must be pinned to: the assigned one if this TensorFlow has
// it, otherwise the CPU (a CPU-only TensorFlow build, or a plan made from a simulated inventory),
// with `info.gpu` and `info.placement_note` saying which.
SessionPtr new_placed_session(const std::string& model_path, const LoadOptions& options, ModelInfo& info);

// Every node goes to `device`, except nodes the exporter pinned to a CPU on purpose (string
// handling, savers); placements on whatever GPU the model was exported from are replaced.
void pin_to_device(tensorflow::GraphDef& graph, const std::string& device);

}  // namespace hepinfer::tf
