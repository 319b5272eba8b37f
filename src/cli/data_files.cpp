#include "data_files.h"

namespace hepinfer::cli {

std::filesystem::path data_path(const std::string& name) {
  std::error_code ec;
  const std::filesystem::path executable = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return name;
  const std::filesystem::path bin = executable.parent_path();
  const std::filesystem::path installed = (bin / ".." / "share" / "hepinfer" / name).lexically_normal();
  const std::filesystem::path build_tree = (bin / ".." / ".." / name).lexically_normal();
  for (const std::filesystem::path& candidate : {installed, build_tree}) {
    if (std::filesystem::exists(candidate, ec)) return candidate;
  }
  return installed;
}

}  // namespace hepinfer::cli
