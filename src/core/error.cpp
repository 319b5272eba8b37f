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
    case ErrorCode::kBackend: return "backend error";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kPermissionDenied: return "permission denied";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kDeadlineExceeded: return "deadline exceeded";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown error";
}

void throw_error(ErrorCode code, const std::string& message) {
  switch (code) {
    case ErrorCode::kInvalidArgument: throw InvalidArgumentError(message);
    case ErrorCode::kFileNotFound: throw FileNotFoundError(message);
    case ErrorCode::kInvalidModel: throw InvalidModelError(message);
    case ErrorCode::kNotFound: throw NotFoundError(message);
    case ErrorCode::kDTypeMismatch: throw DTypeMismatchError(message);
    case ErrorCode::kShapeMismatch: throw ShapeMismatchError(message);
    case ErrorCode::kResourceExhausted: throw ResourceExhaustedError(message);
    case ErrorCode::kBackend: throw BackendError(message);
    case ErrorCode::kUnsupported: throw UnsupportedError(message);
    case ErrorCode::kFailedPrecondition: throw FailedPreconditionError(message);
    case ErrorCode::kPermissionDenied: throw PermissionDeniedError(message);
    case ErrorCode::kCancelled: throw CancelledError(message);
    case ErrorCode::kDeadlineExceeded: throw DeadlineExceededError(message);
    case ErrorCode::kUnavailable: throw UnavailableError(message);
    case ErrorCode::kInternal: throw InternalError(message);
  }
  throw BackendError(message);
}

void throw_for_status_code(int canonical_code, const std::string& message) {
  switch (canonical_code) {
    case 0: return;
    case 1: throw CancelledError(message);
    case 3:
    case 11: throw InvalidArgumentError(message);
    case 4: throw DeadlineExceededError(message);
    case 5: throw NotFoundError(message);
    case 6:
    case 9: throw FailedPreconditionError(message);
    case 7:
    case 16: throw PermissionDeniedError(message);
    case 8: throw ResourceExhaustedError(message);
    case 10:
    case 14: throw UnavailableError(message);
    case 12: throw UnsupportedError(message);
    case 13:
    case 15: throw InternalError(message);
    default: throw BackendError(message);  // 2 (UNKNOWN) and codes no one defined
  }
}

}  // namespace hepinfer
