#pragma once
// What /proc says about this process's threads and memory, for the thread-budget tests.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hepinfer::test {

struct ThreadSample {
  int tid = 0;
  std::string name;          // /proc/self/task/TID/comm (15 characters at most)
  double cpu_seconds = 0.0;  // user + system time so far
};

std::vector<ThreadSample> process_threads();
std::size_t thread_count();
// The thread count once threads just joined have left /proc/self/task (the kernel may still list
// an exiting thread for a moment after pthread_join returns): waits up to `patience` for the count
// to fall to `expected`, then returns it. A thread that stays shows as a count above `expected`.
std::size_t thread_count_settled(std::size_t expected, std::chrono::milliseconds patience = std::chrono::seconds(2));
// CPU seconds used by the listed threads that still exist, summed.
double cpu_seconds_of(const std::vector<ThreadSample>& threads);
std::int64_t resident_bytes();
int current_tid();

}  // namespace hepinfer::test
