#include "test_models.h"

#include <fstream>
#include <stdexcept>

#include "hepinfer/core/npy.h"
#include "nlohmann/json.hpp"

namespace hepinfer::test {
namespace {

struct Manifest {
  std::vector<TestModel> models;
  std::map<std::string, std::string> broken;
  std::map<std::string, UnsafeModel> unsafe;
  std::map<std::string, FileTableModel> file_tables;
  std::map<std::string, std::string> special;
  std::map<std::string, IntermediateTensor> intermediates;
  GeneratorOneDnn onednn;
};

std::string absolute(const std::string& relative) { return test_models_dir() + "/" + relative; }

std::map<std::string, std::string> string_map(const nlohmann::json& json, bool paths) {
  std::map<std::string, std::string> result;
  for (const auto& [key, value] : json.items()) {
    result[key] = paths ? absolute(value.get<std::string>()) : value.get<std::string>();
  }
  return result;
}

Manifest load_manifest() {
  const std::string path = absolute("manifest.json");
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot read " + path + "; build the hepinfer_test_models target");
  const auto json = nlohmann::json::parse(file);
  Manifest manifest;
  for (const auto& entry : json.at("models")) {
    TestModel model;
    model.name = entry.at("name");
    model.inputs = entry.at("inputs").get<std::vector<std::string>>();
    model.outputs = entry.at("outputs").get<std::vector<std::string>>();
    model.tolerance = entry.at("tolerance");
    for (const auto& [format, description] : entry.at("formats").items()) {
      model.formats[format] = {absolute(description.at("path")), string_map(description.at("inputs"), false),
                               string_map(description.at("outputs"), false)};
    }
    for (const auto& reference : entry.at("cases")) {
      model.cases.push_back({reference.at("batch"), string_map(reference.at("inputs"), true),
                             string_map(reference.at("outputs"), true)});
    }
    manifest.models.push_back(std::move(model));
  }
  manifest.broken = string_map(json.at("broken"), true);
  for (const auto& [kind, entry] : json.at("unsafe").items()) {
    manifest.unsafe[kind] = {absolute(entry.at("path")), entry.at("op"), entry.at("target"), entry.at("input"),
                             entry.at("output")};
  }
  manifest.special = string_map(json.at("special"), true);
  for (const auto& [kind, entry] : json.at("file_tables").items()) {
    manifest.file_tables[kind] = {absolute(entry.at("path")), entry.at("file")};
  }
  for (const auto& [model, entry] : json.at("intermediates").items()) {
    std::vector<std::int64_t> dims;
    for (const auto& dim : entry.at("shape")) dims.push_back(dim.is_null() ? Shape::kUnknownDim : dim.get<std::int64_t>());
    manifest.intermediates[model] = {entry.at("tensor"), Shape(std::move(dims))};
  }
  const auto& onednn = json.at("onednn");
  manifest.onednn.enabled = onednn.at("enabled");
  if (const auto& setting = onednn.at("TF_ENABLE_ONEDNN_OPTS"); !setting.is_null()) {
    manifest.onednn.setting = setting.get<std::string>();
  }
  return manifest;
}

const Manifest& manifest() {
  static const Manifest instance = load_manifest();
  return instance;
}

}  // namespace

std::string test_models_dir() { return HEPINFER_TEST_MODELS_DIR; }

const std::vector<TestModel>& test_models() { return manifest().models; }

const TestModel& test_model(const std::string& name) {
  for (const TestModel& model : test_models()) {
    if (model.name == name) return model;
  }
  throw std::runtime_error("no test model '" + name + "' in the manifest");
}

std::string broken_model(const std::string& kind) { return manifest().broken.at(kind); }

const std::map<std::string, UnsafeModel>& unsafe_models() { return manifest().unsafe; }

const std::map<std::string, FileTableModel>& file_table_models() { return manifest().file_tables; }

std::string special_model(const std::string& kind) { return manifest().special.at(kind); }

const IntermediateTensor& intermediate_tensor(const std::string& model) { return manifest().intermediates.at(model); }

const GeneratorOneDnn& generator_onednn() { return manifest().onednn; }

std::vector<NamedTensor> reference_inputs(const TestModel& model, const std::string& format,
                                          const ReferenceCase& reference) {
  std::vector<NamedTensor> inputs;
  for (const std::string& logical : model.inputs) {
    inputs.push_back({model.formats.at(format).inputs.at(logical), read_npy(reference.inputs.at(logical))});
  }
  return inputs;
}

std::vector<std::string> output_names(const TestModel& model, const std::string& format) {
  std::vector<std::string> names;
  for (const std::string& logical : model.outputs) names.push_back(model.formats.at(format).outputs.at(logical));
  return names;
}

}  // namespace hepinfer::test
