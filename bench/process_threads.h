#pragma once
// The threads of this process now (/proc/self/task), for benchmarks that report what a backend
// starts.

#include <dirent.h>

namespace hepinfer::bench {

inline int process_threads() {
  int count = 0;
  if (DIR* tasks = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(tasks)) count += entry->d_name[0] != '.';
    closedir(tasks);
  }
  return count;
}

}  // namespace hepinfer::bench
