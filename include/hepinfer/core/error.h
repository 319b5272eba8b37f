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
  kRuntime,            // the runtime (TensorFlow) failed while running; its message is kept
  kUnsupported,        // valid input that hepinfer does not handle (e.g. string tensors)
  kFailedPrecondition, // a call made in the wrong order (e.g. loading a model before the device plan)
  kPermissionDenied,   // refused on purpose (e.g. a model whose graph can touch files or run code)
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
using RuntimeError = TypedError<ErrorCode::kRuntime>;
using UnsupportedError = TypedError<ErrorCode::kUnsupported>;
using FailedPreconditionError = TypedError<ErrorCode::kFailedPrecondition>;
using PermissionDeniedError = TypedError<ErrorCode::kPermissionDenied>;

}  // namespace hepinfer
