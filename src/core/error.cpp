#include "hepinfer/core/error.h"

namespace hepinfer {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kFileNotFound: return "file not found";
    case ErrorCode::kInvalidModel: return "invalid model";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kDTypeMismatch: return "dtype mismatch";
    case ErrorCode::kShapeMismatch: return "shape mismatch";
    case ErrorCode::kResourceExhausted: return "resource exhausted";
    case ErrorCode::kRuntime: return "runtime error";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kPermissionDenied: return "permission denied";
  }
  return "unknown error";
}

}  // namespace hepinfer
