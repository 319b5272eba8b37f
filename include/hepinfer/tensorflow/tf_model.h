#pragma once
// Loading TensorFlow models (frozen GraphDef .pb files and SavedModel directories) as
// hepinfer::Model objects. This header does not include TensorFlow headers.

#include <filesystem>
#include <memory>
#include <string>

#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"

namespace hepinfer::tf {

// The backend-neutral options (hepinfer/core/load_options.h), as the TF backend reads them: tags
// select the SavedModel's MetaGraph; the allowlist is hepinfer's TF inference op list (checkpoint
// ops only where the SavedModel's saver restores its variables); the memory figure is TF's step
// statistics, the sum of every node's peak allocation; the placement pins the session to the
// module's virtual GPU (see hepinfer/tensorflow/device_plan.h).
using hepinfer::LoadOptions;

// Loads `path`: a directory is read as a SavedModel, a file as a binary GraphDef (.pb) or, when
// it ends in .pbtxt, a text GraphDef. Throws FileNotFoundError, InvalidModelError or
// NotFoundError (unknown signature or tags), PermissionDeniedError (an op outside the allowlist),
// and FailedPreconditionError while a device plan is awaited; never returns a half-initialised
// model. Nothing of a refused model runs, not even its variable restore.
std::unique_ptr<Model> load_model(const std::filesystem::path& path, const LoadOptions& options = {});

// The version of the linked TensorFlow runtime, e.g. "2.21.0".
std::string runtime_version();

}  // namespace hepinfer::tf
