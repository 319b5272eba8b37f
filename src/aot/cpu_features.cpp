#include "cpu_features.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace hepinfer::aot::detail {

std::vector<std::string> host_features() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::vector<std::string> features;
  for (std::string line; std::getline(cpuinfo, line);) {
    // x86 calls the line "flags"; every core lists the same, so the first is enough.
    if (line.rfind("flags", 0) != 0) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream names(line.substr(colon + 1));
    for (std::string name; names >> name;) features.push_back(name);
    break;
  }
  std::sort(features.begin(), features.end());
  return features;
}

std::vector<std::string> missing_features(const std::vector<std::string>& required) {
  const std::vector<std::string> host = host_features();
  std::vector<std::string> missing;
  for (const std::string& feature : required) {
    if (!std::binary_search(host.begin(), host.end(), feature)) missing.push_back(feature);
  }
  return missing;
}

}  // namespace hepinfer::aot::detail
