#pragma once
// The subcommands of the `hepinfer` tool. Each registers itself, its options and its callback on
// the app; callbacks report failures by throwing hepinfer::Error.

#include "CLI/CLI.hpp"

namespace hepinfer::cli {

void add_inspect_command(CLI::App& app);
void add_infer_command(CLI::App& app);
void add_npy_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_devices_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_compile_command(CLI::App& app);
void add_run_command(CLI::App& app);

}  // namespace hepinfer::cli
