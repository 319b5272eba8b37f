#pragma once
// The models and reference data tools/make_test_models.py wrote at build time (manifest.json).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hepinfer/core/model.h"

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

// A reference case's inputs, named as `format` ("saved_model", "frozen_graph") names them, and
// that format's output names in the model's output order.
std::vector<NamedTensor> reference_inputs(const TestModel& model, const std::string& format,
                                          const ReferenceCase& reference);
std::vector<std::string> output_names(const TestModel& model, const std::string& format);
const TestModel& test_model(const std::string& name);
// Deliberately broken models ("unfrozen", "unknown_op"), by kind; absolute path.
std::string broken_model(const std::string& kind);

// Models whose graphs try to touch files or run Python (tools/make_test_models.py).
struct UnsafeModel {
  std::string path;    // absolute
  std::string op;      // the op hepinfer must refuse, e.g. "WriteFile"
  std::string target;  // the file the model writes when it runs; empty if it writes none
  std::string input;   // feed and fetch names
  std::string output;
};
const std::map<std::string, UnsafeModel>& unsafe_models();

// SavedModels whose lookup table is filled from a file that is not one of their assets
// ("absolute_path", "asset_escape"): input "ids" int64 [N, 4], output "values" = (1000 + id) / 2
// for ids below 100 when `file` is read.
struct FileTableModel {
  std::string path;  // absolute
  std::string file;  // the file the table would be read from
};
const std::map<std::string, FileTableModel>& file_table_models();

// Models for one test each, by kind ("stateful_counter": a SavedModel whose serving function
// writes a variable, input "x" float32 [N, 4], output "y" = 2x + number of calls); absolute path.
std::string special_model(const std::string& kind);

// A tensor inside a model's frozen graph that no signature lists (the first convolution's output).
struct IntermediateTensor {
  std::string tensor;  // raw graph name, "...:0"
  Shape shape;         // -1 for the batch
};
const IntermediateTensor& intermediate_tensor(const std::string& model);

// Whether Python TF ran with oneDNN on when it generated the references, and the
// TF_ENABLE_ONEDNN_OPTS it saw (nullopt: unset).
struct GeneratorOneDnn {
  bool enabled = false;
  std::optional<std::string> setting;
};
const GeneratorOneDnn& generator_onednn();
std::string test_models_dir();

}  // namespace hepinfer::test
