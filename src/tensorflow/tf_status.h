#pragma once
// Turns TensorFlow statuses into hepinfer's typed errors.

#include <string>

#include "absl/status/status.h"

namespace hepinfer::tf {

// Throws the hepinfer error matching `status`'s canonical code (see throw_for_status_code in
// hepinfer/core/error.h), its message prefixed by `context`. Does nothing for an OK status.
void throw_if_error(const absl::Status& status, const std::string& context);

}  // namespace hepinfer::tf
