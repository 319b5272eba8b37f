#pragma once
// What a path that is not a loadable TensorFlow model is instead, and what to give hepinfer.
// Users hand over what their training wrote: a Keras archive or .h5 file, a TensorFlow Lite or
// ONNX conversion, a checkpoint, a compressed graph, or the folder above a SavedModel (TF
// Serving's version folders). A parser's "corrupt GraphDef" helps none of them.

#include <filesystem>
#include <optional>
#include <string>

namespace hepinfer {

// For a file or directory hepinfer cannot load as a model because it is something recognisably
// else, a sentence that starts with "is" or "has" and says what it is and what to do
// ("is a Keras archive (.keras), not a TensorFlow graph: export it ..."); callers prefix the
// quoted path. nullopt for what may be a model (a SavedModel directory, an XLA artifact, a file
// that could be a GraphDef) and for what it does not recognise. Never throws.
std::optional<std::string> advise_on_model_path(const std::filesystem::path& path) noexcept;

}  // namespace hepinfer
