#pragma once
// The models and reference data tools/make_test_models.py wrote at build time (manifest.json).

#include <map>
#include <string>
#include <vector>

namespace hepinfer::test {

// How one serialisation of a model names its inputs and outputs (logical name -> name to use).
struct ModelFormatEntry {
  std::string path;  // absolute
  std::map<std::string, std::string> inputs;
  std::map<std::string, std::string> outputs;
};

// Seeded inputs at one batch size and the outputs Python TensorFlow computed (absolute .npy paths).
struct ReferenceCase {
  int batch = 0;
  std::map<std::string, std::string> inputs;
  std::map<std::string, std::string> outputs;
};

struct TestModel {
  std::string name;
  std::vector<std::string> inputs;   // logical names, in order
  std::vector<std::string> outputs;  // logical names, in order
  std::map<std::string, ModelFormatEntry> formats;  // "saved_model", "frozen_graph"
  std::vector<ReferenceCase> cases;
  double tolerance = 0.0;
};

const std::vector<TestModel>& test_models();
const TestModel& test_model(const std::string& name);
// Deliberately broken models ("unfrozen", "unknown_op"), by kind; absolute path.
std::string broken_model(const std::string& kind);
std::string test_models_dir();

}  // namespace hepinfer::test
