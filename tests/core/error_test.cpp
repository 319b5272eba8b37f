// Canonical status codes (shared by TensorFlow, abseil, PJRT and gRPC) map onto typed errors.

#include "hepinfer/core/error.h"

#include <gtest/gtest.h>

#include <map>

namespace hepinfer {
namespace {

ErrorCode code_thrown_for(int canonical_code) {
  try {
    throw_for_status_code(canonical_code, "context: message");
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "context: message");
    return error.code();
  }
  ADD_FAILURE() << "nothing thrown for " << canonical_code;
  return ErrorCode::kBackend;
}

TEST(StatusCodes, EveryCanonicalCodeHasItsError) {
  const std::map<int, ErrorCode> expected = {
      {1, ErrorCode::kCancelled},          {2, ErrorCode::kBackend},
      {3, ErrorCode::kInvalidArgument},    {4, ErrorCode::kDeadlineExceeded},
      {5, ErrorCode::kNotFound},           {6, ErrorCode::kFailedPrecondition},
      {7, ErrorCode::kPermissionDenied},   {8, ErrorCode::kResourceExhausted},
      {9, ErrorCode::kFailedPrecondition}, {10, ErrorCode::kUnavailable},
      {11, ErrorCode::kInvalidArgument},   {12, ErrorCode::kUnsupported},
      {13, ErrorCode::kInternal},          {14, ErrorCode::kUnavailable},
      {15, ErrorCode::kInternal},          {16, ErrorCode::kPermissionDenied},
      {17, ErrorCode::kBackend},           {-1, ErrorCode::kBackend}};
  for (const auto& [canonical, code] : expected) {
    EXPECT_EQ(code_thrown_for(canonical), code) << "canonical code " << canonical;
  }
}

TEST(StatusCodes, OkThrowsNothing) { EXPECT_NO_THROW(throw_for_status_code(0, "fine")); }

TEST(StatusCodes, EachCodeCanBeCaughtByItsOwnType) {
  EXPECT_THROW(throw_for_status_code(14, "server away"), UnavailableError);
  EXPECT_THROW(throw_for_status_code(4, "too slow"), DeadlineExceededError);
  EXPECT_THROW(throw_for_status_code(8, "no memory"), ResourceExhaustedError);
}

TEST(StatusCodes, EveryErrorCodeHasAName) {
  for (int code = 0; code <= static_cast<int>(ErrorCode::kInternal); ++code) {
    EXPECT_NE(error_code_name(static_cast<ErrorCode>(code)), "unknown error") << code;
  }
}

TEST(StatusCodes, ContextCanBeAddedWithoutLosingTheType) {
  for (int code = 0; code <= static_cast<int>(ErrorCode::kInternal); ++code) {
    try {
      throw_error(static_cast<ErrorCode>(code), "module 'm': it failed");
    } catch (const Error& error) {
      EXPECT_EQ(static_cast<int>(error.code()), code);
    }
  }
  EXPECT_THROW(throw_error(ErrorCode::kShapeMismatch, "x"), ShapeMismatchError);
}

}  // namespace
}  // namespace hepinfer
