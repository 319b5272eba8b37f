#pragma once
// The instruction-set features of this CPU, by the names Linux's /proc/cpuinfo gives them (which
// are the names AOT packages record).

#include <string>
#include <vector>

namespace hepinfer::aot::detail {

// Sorted; empty if /proc/cpuinfo cannot be read.
std::vector<std::string> host_features();

// Those of `required` this CPU lacks, in `required`'s order.
std::vector<std::string> missing_features(const std::vector<std::string>& required);

}  // namespace hepinfer::aot::detail
