// The framework-shaped event loop on its own: every event once, external work resumed from other
// threads, errors and stops.

#include "job/event_loop.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "hepinfer/core/error.h"

namespace hepinfer::framework {
namespace {

TEST(EventLoop, EveryEventRunsOnceWhetherItFinishesInlineOrThroughExternalWork) {
  EventLoop loop({.events = 500, .streams = 4, .threads = 2});
  std::mutex mutex;
  std::multiset<std::int64_t> seen;
  std::vector<std::thread> workers;  // external work, finishing on threads outside the arena
  loop.run([&](std::int64_t number, int stream) {
    if (number % 3 != 0) {
      const std::lock_guard lock(mutex);
      seen.insert(number);
      return true;
    }
    const ExternalWork work = loop.start_external_work(stream);
    const std::lock_guard lock(mutex);
    workers.emplace_back([&, work, number] {
      work.resume([&, number] {
        const std::lock_guard inner(mutex);
        seen.insert(number);
        return true;
      });
    });
    return false;
  });
  for (std::thread& worker : workers) worker.join();
  EXPECT_EQ(loop.events_done(), 500);
  ASSERT_EQ(seen.size(), 500u);
  for (std::int64_t number = 0; number < 500; ++number) EXPECT_EQ(seen.count(number), 1u) << number;
  EXPECT_FALSE(loop.first_error());
}

TEST(EventLoop, AnErrorStopsNewEventsAndIsReported) {
  EventLoop loop({.events = 10000, .streams = 2, .threads = 2});
  loop.run([](std::int64_t number, int) -> bool {
    if (number == 20) throw std::runtime_error("event 20 failed");
    return true;
  });
  ASSERT_TRUE(loop.first_error());
  EXPECT_THROW(std::rethrow_exception(loop.first_error()), std::runtime_error);
  EXPECT_LT(loop.events_done(), 10000);
}

TEST(EventLoop, AStopRequestFinishesTheEventsInFlight) {
  std::atomic<bool> stop{false};
  EventLoop loop({.events = 1000000, .streams = 2, .threads = 2}, &stop);
  loop.run([&](std::int64_t number, int) {
    if (number == 100) stop.store(true);
    return true;
  });
  EXPECT_GE(loop.events_done(), 100);
  EXPECT_LT(loop.events_done(), 1000000);
  EXPECT_FALSE(loop.first_error());
}

TEST(EventLoop, SettingsAreChecked) {
  EXPECT_THROW(EventLoop({.events = 1, .streams = 0, .threads = 1}), InvalidArgumentError);
  EXPECT_THROW(EventLoop({.events = 1, .streams = 1, .threads = 0}), InvalidArgumentError);
  EXPECT_THROW(EventLoop({.events = -1, .streams = 1, .threads = 1}), InvalidArgumentError);
}

}  // namespace
}  // namespace hepinfer::framework
