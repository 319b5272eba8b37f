// `hepinfer inspect MODEL [--json] [--signature KEY]`: what a model takes and returns.

#include <iomanip>
#include <iostream>

#include "commands.h"
#include "model_loader.h"
#include "nlohmann/json.hpp"

namespace hepinfer::cli {
namespace {

nlohmann::json tensor_json(const TensorInfo& info) {
  nlohmann::json shape = nullptr;  // null: unknown rank
  if (info.shape.rank_known()) shape = info.shape.dims();
  nlohmann::json tensor = {
      {"name", info.key}, {"tensor", info.tensor_name}, {"dtype", dtype_name(info.dtype)}, {"shape", shape}};
  if (info.index_range) tensor["index_range"] = {info.index_range->low, info.index_range->high};
  if (info.composite_component) tensor["composite_component"] = true;
  return tensor;
}

std::string runtime_of(const ModelInfo& info) {
  return info.backend == "tensorflow" ? backend_description() : info.backend + " (" + info.device + ")";
}

nlohmann::json timing_json(const LoadTiming& timing) {
  return {{"load_ms", timing.load_ms}, {"warmup_ms", timing.warmup_ms}, {"warmup_runs", timing.warmup_runs}};
}

nlohmann::json model_json(const ModelInfo& info) {
  nlohmann::json signatures = nlohmann::json::array();
  for (const SignatureInfo& signature : info.signatures) {
    nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
    for (const TensorInfo& input : signature.inputs) inputs.push_back(tensor_json(input));
    for (const TensorInfo& output : signature.outputs) outputs.push_back(tensor_json(output));
    signatures.push_back({{"key", signature.key}, {"inputs", inputs}, {"outputs", outputs}});
  }
  nlohmann::json details = nlohmann::json::object();
  for (const auto& [name, value] : info.load_details) details[name] = value;
  if (info.gpu) details["gpu"] = std::to_string(*info.gpu);
  return {{"path", info.path},
          {"backend", info.backend},
          {"format", info.format},
          {"device", info.device},
          {"runtime", runtime_of(info)},
          {"default_signature", info.default_signature},
          {"load_details", details},
          {"signatures", signatures}};
}

void print_tensors(const char* title, const std::vector<TensorInfo>& infos) {
  std::cout << "    " << title << ":\n";
  std::size_t width = 4;
  for (const TensorInfo& info : infos) width = std::max(width, info.key.size());
  for (const TensorInfo& info : infos) {
    std::cout << "      " << std::left << std::setw(static_cast<int>(width)) << info.key << "  " << std::setw(7)
              << dtype_name(info.dtype) << "  " << std::setw(18) << info.shape.to_string() << "  ("
              << info.tensor_name << ")";
    if (info.index_range) {
      std::cout << "  indices in [" << info.index_range->low << ", " << info.index_range->high << ")";
    }
    if (info.composite_component) std::cout << "  part of a ragged or sparse tensor: not split or merged as rows";
    std::cout << "\n";
  }
  if (infos.empty()) std::cout << "      (none)\n";
}

void print_timing(const LoadTiming& timing) {
  std::cout << "timing:\n"
            << "  load     " << timing.load_ms << " ms\n"
            << "  warm-up  " << timing.warmup_ms << " ms (" << timing.warmup_runs << " runs)\n";
}

void print_model(const ModelInfo& info) {
  std::cout << "model:   " << info.path << "\n"
            << "format:  " << info.format << "\n"
            << "device:  " << (info.device.empty() ? "TensorFlow's default placement" : info.device) << "\n"
            << "runtime: " << runtime_of(info) << "\n";
  for (const auto& [name, value] : info.load_details) std::cout << "  " << name << ": " << value << "\n";
  for (const SignatureInfo& signature : info.signatures) {
    std::cout << "  signature '" << signature.key << "'"
              << (signature.key == info.default_signature ? " (default)" : "") << "\n";
    print_tensors("inputs", signature.inputs);
    print_tensors("outputs", signature.outputs);
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  struct Options {
    std::string model;
    LoadOptions open;
    GpuRequest gpu;
    bool json = false;
    bool timing = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("inspect", "Show a model's format, signatures, inputs and outputs");
  command->add_option("model", options->model, kModelArgumentHelp)->required();
  command->add_option("--signature", options->open.signature, "Default signature to report (SavedModel)");
  command->add_flag("--json", options->json, "Print JSON instead of text");
  command->add_flag("--timing", options->timing, "Also report load and warm-up time");
  command->add_flag("--memory", options->open.measure_memory,
                    "Measure memory per run: fixed bytes + bytes per row (TF step statistics, an upper bound)");
  command->add_option("--warmup", options->open.warmup_runs, "Warm-up runs per batch size at load")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--warmup-batch", options->open.warmup_batch_sizes, "Warm-up batch sizes (default 1)")
      ->check(CLI::NonNegativeNumber);
  add_threading_option(*command, options->open.threading);
  add_op_policy_options(*command, options->open);
  add_gpu_options(*command, options->gpu);
  command->callback([options] {
    place_on_requested_gpu(options->gpu, options->open);
    const auto model = open_model(options->model, options->open);
    if (options->json) {
      auto json = model_json(model->info());
      if (options->timing) json["timing"] = timing_json(model->info().timing);
      if (const auto& memory = model->info().memory) {
        json["memory"] = {{"fixed_bytes", memory->fixed_bytes}, {"bytes_per_row", memory->bytes_per_row}};
      }
      std::cout << json.dump(2) << "\n";
    } else {
      print_model(model->info());
      if (options->timing) print_timing(model->info().timing);
      if (const auto& memory = model->info().memory) {
        std::cout << "memory per run (upper bound): " << memory->fixed_bytes << " B + " << memory->bytes_per_row
                  << " B per row; 1000 rows: " << memory->bytes_for(1000) / (1024 * 1024) << " MiB\n";
      }
    }
  });
}

}  // namespace hepinfer::cli
