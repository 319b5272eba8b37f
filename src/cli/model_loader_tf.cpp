#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "model_loader.h"

namespace hepinfer::cli {

std::unique_ptr<Model> open_model(const std::string& path, const std::string& signature) {
  tf::set_log_level(tf::LogLevel::kWarning);  // TF's INFO lines would bury the tool's output
  tf::LoadOptions options;
  options.signature = signature;
  return tf::load_model(path, options);
}

std::string backend_description() { return "TensorFlow " + tf::runtime_version(); }

}  // namespace hepinfer::cli
