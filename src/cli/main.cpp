// hepinfer: inspect, compile and run TensorFlow models from the command line.

#include <iostream>

#include "CLI/CLI.hpp"
#include "commands.h"
#include "hepinfer/core/error.h"
#include "model_loader.h"
#include "startup_quiet.h"

namespace {

std::string one_line(std::string message) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

}  // namespace

int main(int argc, char** argv) {
  hepinfer::cli::configure_backend_logging(hepinfer::cli::verbose_requested());
  hepinfer::cli::end_quiet_startup();

  CLI::App app{"hepinfer: fast inference of TensorFlow models for multithreaded event processing (" +
               hepinfer::cli::backend_description() + ")"};
  app.require_subcommand(1);
  app.fallthrough();  // --verbose may follow the command's name
  bool verbose = false;  // acted on before main, by startup_quiet.cpp
  app.add_flag("--verbose", verbose, "Show the log lines of the libraries (TensorFlow) on stderr");
  app.set_version_flag("--version",
                       std::string("hepinfer ") + HEPINFER_VERSION + " (" + hepinfer::cli::backend_description() + ")");

  hepinfer::cli::add_inspect_command(app);
  hepinfer::cli::add_infer_command(app);
  hepinfer::cli::add_npy_command(app);
  hepinfer::cli::add_plan_command(app);
  hepinfer::cli::add_devices_command(app);
  hepinfer::cli::add_bench_command(app);
  hepinfer::cli::add_compile_command(app);
  hepinfer::cli::add_run_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::RuntimeError& stop) {  // a command that already said why it stops
    return stop.get_exit_code();
  } catch (const CLI::ParseError& error) {
    std::cerr << "hepinfer: error (usage): " << one_line(error.what()) << " (see --help)\n";
    return error.get_exit_code() == 0 ? 2 : error.get_exit_code();
  } catch (const hepinfer::Error& error) {
    std::cerr << "hepinfer: error (" << hepinfer::error_code_name(error.code()) << "): " << one_line(error.what())
              << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "hepinfer: error: " << one_line(error.what()) << "\n";
    return 1;
  }
  return 0;
}
