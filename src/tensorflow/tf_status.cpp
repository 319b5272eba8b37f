#include "tf_status.h"

#include "hepinfer/core/error.h"

namespace hepinfer::tf {

void throw_if_error(const absl::Status& status, const std::string& context) {
  if (status.ok()) return;
  throw_for_status_code(static_cast<int>(status.code()), context + ": " + std::string(status.message()));
}

}  // namespace hepinfer::tf
