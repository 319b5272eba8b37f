// `hepinfer infer MODEL --input NAME=IN.npy ... [--output NAME=OUT.npy ...]`: one run through .npy files.

#include <filesystem>
#include <iostream>

#include "commands.h"
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
    OpenOptions open;
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    std::string output_dir = ".";
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("infer", "Run a model once on .npy inputs and write .npy outputs");
  command->add_option("model", options->model, "Frozen GraphDef (.pb) or SavedModel directory")->required();
  command->add_option("--signature", options->open.signature, "Signature whose keys name inputs and outputs");
  add_threading_option(*command, options->open.threading);
  command->add_option("--input,-i", options->inputs, "NAME=FILE.npy, one per model input")->required();
  command->add_option("--output,-o", options->outputs,
                      "NAME=FILE.npy; without any, every signature output goes to OUTPUT_DIR/NAME.npy");
  command->add_option("--output-dir", options->output_dir, "Directory for outputs written by name");
  command->callback([options] {
    std::vector<NamedTensor> inputs;
    for (const std::string& text : options->inputs) {
      const auto [name, file] = split_assignment(text, "--input");
      inputs.push_back({name, read_npy(file)});
    }
    const auto model = open_model(options->model, options->open);
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
    for (std::size_t i = 0; i < results.size(); ++i) {
      write_npy(output_files[i], results[i]);
      std::cout << output_names[i] << " " << results[i].description() << " -> " << output_files[i].string() << "\n";
    }
  });
}

}  // namespace hepinfer::cli
