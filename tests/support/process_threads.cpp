#include "process_threads.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace hepinfer::test {

std::vector<ThreadSample> process_threads() {
  std::vector<ThreadSample> threads;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    ThreadSample sample;
    sample.tid = std::stoi(entry.path().filename().string());
    std::ifstream(entry.path() / "comm") >> sample.name;
    std::ifstream stat_file(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
    const auto after_name = stat.rfind(')');
    if (after_name == std::string::npos) continue;  // the thread exited while being read
    std::istringstream fields(stat.substr(after_name + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int index = 3; fields >> field; ++index) {  // field 3 is the state
      if (index == 14) utime = std::stol(field);
      if (index == 15) {
        stime = std::stol(field);
        break;
      }
    }
    sample.cpu_seconds = static_cast<double>(utime + stime) / ticks;
    threads.push_back(sample);
  }
  return threads;
}

std::size_t thread_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++count;
  return count;
}

std::size_t thread_count_settled(std::size_t expected, std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  std::size_t count = thread_count();
  while (count > expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    count = thread_count();
  }
  return count;
}

double cpu_seconds_of(const std::vector<ThreadSample>& threads) {
  double total = 0;
  for (const ThreadSample& now : process_threads()) {
    for (const ThreadSample& listed : threads) {
      if (listed.tid == now.tid) total += now.cpu_seconds;
    }
  }
  return total;
}

std::int64_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

int current_tid() { return static_cast<int>(::syscall(SYS_gettid)); }

}  // namespace hepinfer::test
