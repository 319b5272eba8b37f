#pragma once
// The CLI's one way to open a model, so that commands not needing TensorFlow build without it.

#include <memory>
#include <string>

#include "hepinfer/core/model.h"

namespace hepinfer::cli {

// Throws UnsupportedError when hepinfer was built without TensorFlow.
std::unique_ptr<Model> open_model(const std::string& path, const std::string& signature);

// "TensorFlow 2.21.0" or "no TensorFlow".
std::string backend_description();

}  // namespace hepinfer::cli
