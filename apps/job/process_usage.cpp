#include "process_usage.h"

#include <sys/resource.h>

#include <fstream>
#include <string>

namespace hepinfer::framework::detail {

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

namespace {

// A number field of /proc/self/status ("Threads:", "VmHWM:"); 0 if absent.
std::int64_t status_field(const std::string& wanted) {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == wanted) {
      std::int64_t value = 0;
      status >> value;
      return value;
    }
    status.ignore(1 << 16, '\n');
  }
  return 0;
}

}  // namespace

std::int64_t peak_rss_bytes() {
  // VmHWM is this process image's own; getrusage's ru_maxrss keeps the parent's high-water mark
  // across fork and exec (a job started from a large Python process reported the Python's).
  if (const std::int64_t kib = status_field("VmHWM:"); kib > 0) return kib * 1024;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

int process_thread_count() { return static_cast<int>(status_field("Threads:")); }

}  // namespace hepinfer::framework::detail
