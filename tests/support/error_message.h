#pragma once
// The message of the error a call throws, for tests that check what an error says.

#include <gtest/gtest.h>

#include <string>

namespace hepinfer::test {

// Runs `action`; returns the message of the `ErrorType` it throws, or fails the test.
template <class ErrorType, class Action>
std::string error_message_of(Action&& action) {
  try {
    action();
  } catch (const ErrorType& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

}  // namespace hepinfer::test
