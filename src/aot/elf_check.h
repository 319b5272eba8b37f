#pragma once
// The structural checks glibc's dlopen leaves out: a shared object whose loadable segments reach
// past the end of its file (truncated) makes dlopen itself die of SIGBUS while it maps them.

#include <filesystem>
#include <string>

namespace hepinfer::aot::detail {

// Throws InvalidModelError naming `what` and `library` unless it is a 64-bit x86-64 ELF shared
// object whose program headers and loadable segments lie inside the file.
void check_loadable_elf(const std::filesystem::path& library, const std::string& what);

}  // namespace hepinfer::aot::detail
