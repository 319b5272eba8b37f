#pragma once
// What the job reports about the whole process: CPU time, peak resident memory, thread count.
#include <cstdint>

namespace hepinfer::framework::detail {

double process_cpu_seconds();        // user + system, all threads
std::int64_t peak_rss_bytes();       // high-water mark of resident memory
int process_thread_count();          // 0 where /proc is unavailable

}  // namespace hepinfer::framework::detail
