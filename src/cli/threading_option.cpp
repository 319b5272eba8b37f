#include "model_loader.h"

namespace hepinfer::cli {

void add_threading_option(CLI::App& command, ThreadingMode& mode) {
  const std::map<std::string, ThreadingMode> modes = {
      {"inline", ThreadingMode::kInline}, {"tbb", ThreadingMode::kTbb}, {"tensorflow", ThreadingMode::kTensorFlow}};
  command.add_option("--threading", mode, "Where TensorFlow's work runs: inline (default), tbb or tensorflow")
      ->transform(CLI::CheckedTransformer(modes, CLI::ignore_case));
}

}  // namespace hepinfer::cli
