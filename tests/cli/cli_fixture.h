#pragma once
// The `hepinfer` command line run as a user runs it, through real files: the fixture the CLI test
// programs share (cli_test.cpp: the commands on models; compile_test.cpp: `hepinfer compile`).

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "scratch_directory.h"

namespace hepinfer {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string quoted(const std::string& text) {
  std::string result = "'";
  for (char c : text) {
    if (c == '\'') {
      result.append("'\\''");
    } else {
      result.push_back(c);
    }
  }
  result.push_back('\'');
  return result;
}

inline std::string slurp(const fs::path& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

class Cli : public ::testing::Test {
 protected:

  CommandResult hepinfer(const std::vector<std::string>& args) const {
    std::string command = quoted(HEPINFER_CLI);
    for (const std::string& arg : args) command.append(" ").append(quoted(arg));
    command.append(" >").append(quoted((scratch_ / "stdout").string()));
    command.append(" 2>").append(quoted((scratch_ / "stderr").string()));
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(scratch_ / "stdout"), slurp(scratch_ / "stderr")};
  }

  // Failures print exactly one line that names the culprit.
  void expect_one_line_error(const CommandResult& result, const std::string& culprit) const {
    EXPECT_NE(result.exit_code, 0);
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find(culprit), std::string::npos) << result.err;
  }

  // Both compilers (the AOT one where its backend is tested) refuse `model` in one line naming
  // `culprit`, and leave nothing behind.
  void expect_compilers_refuse(const std::string& model, const std::string& culprit) const {
    expect_one_line_error(hepinfer({"compile", model, "-o", (scratch_ / "refused.xla").string()}), culprit);
#ifdef HEPINFER_TEST_AOT
    expect_one_line_error(hepinfer({"compile", model, "-o", (scratch_ / "refused.aot").string(), "--target", "cpu-aot"}),
                          culprit);
#endif
    EXPECT_FALSE(fs::exists(scratch_ / "refused.xla"));
    EXPECT_FALSE(fs::exists(scratch_ / "refused.aot"));
  }

  // `model` and what `hepinfer compile` makes of it at batch sizes 1 and 4 (an XLA artifact and,
  // where the AOT backend is tested, an AOT package), named <stem>.xla and <stem>.aot: the
  // runnables a test checks alike. Empty, with a failure recorded, if a compile fails.
  std::vector<fs::path> model_and_compiled(const fs::path& model, const std::string& stem) const {
    std::vector<fs::path> runnables{model};
    std::vector<std::pair<std::string, std::vector<std::string>>> targets{{".xla", {}}};
#ifdef HEPINFER_TEST_AOT
    targets.push_back({".aot", {"--target", "cpu-aot"}});
#endif
    for (const auto& [extension, target] : targets) {
      runnables.push_back(scratch_ / (stem + extension));
      std::vector<std::string> command{"compile", model.string(), "-o", runnables.back().string(),
                                       "--batch-sizes", "1,4"};
      command.insert(command.end(), target.begin(), target.end());
      const CommandResult compiled = hepinfer(command);
      EXPECT_EQ(compiled.exit_code, 0) << compiled.err;
      if (compiled.exit_code != 0) return {};
    }
    return runnables;
  }

  test::ScratchDirectory scratch_directory_;
  const fs::path& scratch_ = scratch_directory_.path();
};

}  // namespace hepinfer
