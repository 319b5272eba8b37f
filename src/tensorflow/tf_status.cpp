#include "tf_status.h"

#include "hepinfer/core/error.h"

namespace hepinfer::tf {

void throw_if_error(const absl::Status& status, const std::string& context) {
  if (status.ok()) return;
  const std::string message = context + ": " + std::string(status.message());
  if (status.code() == absl::StatusCode::kResourceExhausted) throw ResourceExhaustedError(message);
  throw RuntimeError(message);
}

}  // namespace hepinfer::tf
