#pragma once
// Typed errors. Every failure in hepinfer is thrown as one of these; the message names the
// file, model, tensor, shape or dtype involved and what was expected.

#include <stdexcept>
#include <string>
#include <string_view>

namespace hepinfer {

enum class ErrorCode {
  kInvalidArgument,    // a caller-supplied value is malformed (bad option, bad .npy, ...)
  kFileNotFound,       // a path does not exist or cannot be read
  kInvalidModel,       // not a GraphDef/SavedModel, truncated or corrupt, unusable graph
  kNotFound,           // unknown signature, tensor or input/output name
  kDTypeMismatch,      // a tensor has the wrong element type
  kShapeMismatch,      // a tensor has the wrong rank or dimensions
  kResourceExhausted,  // the runtime ran out of memory
  kBackend,            // a backend (TensorFlow) or the job it serves failed; the backend's message is kept
  kUnsupported,        // valid input that hepinfer does not handle (e.g. string tensors)
  kFailedPrecondition, // a call made in the wrong order (e.g. loading a model before the device plan)
  kPermissionDenied,   // refused on purpose (e.g. a model whose graph can touch files or run code)
  kCancelled,          // the work was cancelled before it finished
  kDeadlineExceeded,   // the work did not finish in time
  kUnavailable,        // a runtime or server cannot serve now; trying again may work
  kInternal,           // a backend broke its own invariants (or lost data): a bug, not the caller's
};

std::string_view error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// One distinct type per code so callers can `catch (const hepinfer::ShapeMismatchError&)`.
template <ErrorCode Code>
class TypedError : public Error {
 public:
  explicit TypedError(const std::string& message) : Error(Code, message) {}
};

using InvalidArgumentError = TypedError<ErrorCode::kInvalidArgument>;
using FileNotFoundError = TypedError<ErrorCode::kFileNotFound>;
using InvalidModelError = TypedError<ErrorCode::kInvalidModel>;
using NotFoundError = TypedError<ErrorCode::kNotFound>;
using DTypeMismatchError = TypedError<ErrorCode::kDTypeMismatch>;
using ShapeMismatchError = TypedError<ErrorCode::kShapeMismatch>;
using ResourceExhaustedError = TypedError<ErrorCode::kResourceExhausted>;
using BackendError = TypedError<ErrorCode::kBackend>;
using UnsupportedError = TypedError<ErrorCode::kUnsupported>;
using FailedPreconditionError = TypedError<ErrorCode::kFailedPrecondition>;
using PermissionDeniedError = TypedError<ErrorCode::kPermissionDenied>;
using CancelledError = TypedError<ErrorCode::kCancelled>;
using DeadlineExceededError = TypedError<ErrorCode::kDeadlineExceeded>;
using UnavailableError = TypedError<ErrorCode::kUnavailable>;
using InternalError = TypedError<ErrorCode::kInternal>;

// Throws the typed error for `code`: how a caller adds context to an error and keeps its type.
[[noreturn]] void throw_error(ErrorCode code, const std::string& message);

// Throws the hepinfer error matching one of the canonical status codes (0-16) that TensorFlow,
// abseil, PJRT and gRPC share, with `message`; does nothing for 0 (OK):
//   CANCELLED → CancelledError             UNKNOWN → BackendError
//   INVALID_ARGUMENT, OUT_OF_RANGE → InvalidArgumentError
//   DEADLINE_EXCEEDED → DeadlineExceededError     NOT_FOUND → NotFoundError
//   ALREADY_EXISTS, FAILED_PRECONDITION → FailedPreconditionError
//   PERMISSION_DENIED, UNAUTHENTICATED → PermissionDeniedError
//   RESOURCE_EXHAUSTED → ResourceExhaustedError   UNIMPLEMENTED → UnsupportedError
//   ABORTED, UNAVAILABLE → UnavailableError       INTERNAL, DATA_LOSS → InternalError
// Codes outside 0-16 are BackendError.
void throw_for_status_code(int canonical_code, const std::string& message);

}  // namespace hepinfer
