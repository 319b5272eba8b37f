#pragma once
// The stub server's "moody" model, served well and then badly on the same connections: each
// hostile mood must fail on the caller's own connection exactly as it does on the I/O thread's,
// and the same model must be served well afterwards. Shared by the plain-HTTP and the TLS tests.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "doubling_tensors.h"
#include "hepinfer/core/error.h"
#include "hepinfer/remote/remote_model.h"

namespace hepinfer::testing {

// `connect_moody` connects a fresh model to the stub's "moody" model (timeout ~300 ms, one attempt).
inline void expect_moods_fail_alike_on_both_paths(
    const std::function<std::unique_ptr<remote::RemoteModel>()>& connect_moody) {
  using namespace std::chrono_literals;
  auto code_of = [](const remote::RemoteModel& remote, const Tensor& input) -> std::optional<ErrorCode> {
    try {
      remote.run({{"x", input}}, {});
    } catch (const Error& error) {
      return error.code();
    }
    return std::nullopt;
  };
  const Tensor good = rows_of(2, 0.0f);
  auto steady = connect_moody();
  // 1 slow, 2 truncated, 3 close, 4 not_http, 5 garbage_json, 6 oversized, 7 unavailable
  for (int mood = 1; mood <= 7; ++mood) {
    SCOPED_TRACE("mood " + std::to_string(mood));
    const Tensor hostile = rows_of(2, static_cast<float>(mood));
    // A fresh model's first request goes through the I/O thread.
    const std::optional<ErrorCode> through_io_thread = code_of(*connect_moody(), hostile);
    ASSERT_TRUE(through_io_thread.has_value());

    // Two good requests make the server steady again (a failure that says nothing about the
    // server, such as a reply that does not decode, leaves it steady), so the second at least goes
    // out from this thread.
    const std::int64_t before = steady->statistics().caller_thread_requests;
    expect_doubled(good, steady->run({{"x", good}}, {}).at(0));
    expect_doubled(good, steady->run({{"x", good}}, {}).at(0));
    ASSERT_GE(steady->statistics().caller_thread_requests, before + 1);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(code_of(*steady, hostile), through_io_thread);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  }
  expect_doubled(good, steady->run({{"x", good}}, {}).at(0));
  EXPECT_EQ(steady->statistics().requests, 7 * 3 + 1);
}

}  // namespace hepinfer::testing
