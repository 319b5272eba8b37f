#pragma once
// Files the CLI ships with (the demo models, the XLA compiler script), found from where the
// executable is, so that nothing of the build machine is compiled in: installed,
// PREFIX/bin/hepinfer finds PREFIX/share/hepinfer/NAME; in a build tree, build/src/cli/hepinfer
// finds build/NAME.

#include <filesystem>
#include <string>

namespace hepinfer::cli {

// The first of the two places that exists; the installed one (for error messages) if neither.
std::filesystem::path data_path(const std::string& name);

}  // namespace hepinfer::cli
