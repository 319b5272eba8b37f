// `hepinfer infer MODEL --input NAME=IN.npy ... [--output NAME=OUT.npy ...] [--max-batch N]
// [--memory-budget-mib M]`: one run through .npy files, split into chunks if asked.

#include <filesystem>
#include <iostream>
#include <system_error>

#include "commands.h"
#include "hepinfer/batching/splitting_model.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"
#include "model_loader.h"

namespace hepinfer::cli {
namespace {

struct NameAndFile {
  std::string name;
  std::string file;
};

NameAndFile split_assignment(const std::string& text, const char* option) {
  const auto equals = text.rfind('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == text.size()) {
    throw InvalidArgumentError(std::string(option) + " expects NAME=FILE.npy, got '" + text + "'");
  }
  return {text.substr(0, equals), text.substr(equals + 1)};
}

// Output keys may be graph names such as "dense/Softmax:1"; keep file names flat.
std::string file_stem_for(std::string key) {
  for (char& c : key) {
    if (c == '/' || c == ':' || c == '\\') c = '_';
  }
  return key;
}

}  // namespace

void add_infer_command(CLI::App& app) {
  struct Options {
    std::string model;
    LoadOptions open;
    GpuRequest gpu;
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    std::string output_dir = ".";
    std::int64_t max_batch = 0;
    std::int64_t memory_budget_mib = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("infer", "Run a model once on .npy inputs and write .npy outputs");
  command->add_option("model", options->model, kModelArgumentHelp)->required();
  command->add_option("--signature", options->open.signature, "Signature whose keys name inputs and outputs");
  add_threading_option(*command, options->open.threading);
  add_gpu_options(*command, options->gpu);
  add_op_policy_options(*command, options->open);
  command->add_option("--input,-i", options->inputs, "NAME=FILE.npy, one per model input")->required();
  command->add_option("--output,-o", options->outputs,
                      "NAME=FILE.npy; without any, every signature output goes to OUTPUT_DIR/NAME.npy");
  command->add_option("--output-dir", options->output_dir, "Directory for outputs written by name");
  command->add_option("--max-batch", options->max_batch, "Run at most this many rows at once (split larger inputs)")
      ->check(CLI::PositiveNumber);
  command->add_option("--memory-budget-mib", options->memory_budget_mib,
                      "Split so that each run fits this memory (measured at load)")
      ->check(CLI::PositiveNumber);
  command->callback([options] {
    std::vector<NamedTensor> inputs;
    for (const std::string& text : options->inputs) {
      const auto [name, file] = split_assignment(text, "--input");
      inputs.push_back({name, read_npy(file)});
    }
    options->open.measure_memory = options->memory_budget_mib > 0;
    place_on_requested_gpu(options->gpu, options->open);
    std::shared_ptr<const Model> model = open_model(options->model, options->open);
    std::shared_ptr<const batching::SplittingModel> split;
    if (options->max_batch > 0 || options->memory_budget_mib > 0) {
      split = std::make_shared<batching::SplittingModel>(
          model, batching::SplitOptions{.max_batch_rows = options->max_batch,
                                        .memory_budget_bytes = options->memory_budget_mib * 1024 * 1024});
      model = split;
    }
    const SignatureInfo& signature = model->info().signature(model->info().default_signature);

    std::vector<std::string> output_names;
    std::vector<std::filesystem::path> output_files;
    for (const std::string& text : options->outputs) {
      const auto [name, file] = split_assignment(text, "--output");
      output_names.push_back(name);
      output_files.emplace_back(file);
    }
    if (output_names.empty()) {
      for (const TensorInfo& output : signature.outputs) {
        output_names.push_back(output.key);
        output_files.push_back(std::filesystem::path(options->output_dir) / (file_stem_for(output.key) + ".npy"));
      }
    }

    const std::vector<Tensor> results = model->run(inputs, output_names);
    if (options->outputs.empty()) {
      std::error_code failed;
      std::filesystem::create_directories(options->output_dir, failed);
      if (failed) {
        throw FileNotFoundError("cannot create the output directory '" + options->output_dir + "': " +
                                failed.message());
      }
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
      write_npy(output_files[i], results[i]);
      std::cout << output_names[i] << " " << results[i].description() << " -> " << output_files[i].string() << "\n";
    }
    if (split) {
      const batching::SplitStatistics statistics = split->statistics();
      std::cout << "batch limit " << statistics.batch_limit << " rows: " << statistics.backend_runs
                << " backend run(s), " << statistics.out_of_memory_retries << " out-of-memory retries\n";
    }
  });
}

}  // namespace hepinfer::cli
