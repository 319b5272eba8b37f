#include "hepinfer/tensorflow/device_plan.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "model_loader.h"

namespace hepinfer::cli {

std::unique_ptr<Model> open_tensorflow_model(const std::string& path, const LoadOptions& options) {
  return tf::load_model(path, options);
}

scheduler::SchedulerHooks backend_scheduler_hooks() { return tf::runtime_hooks(); }

std::string backend_description() {
  return "TensorFlow " + tf::runtime_version() + ", oneDNN " + (tf::onednn_enabled() ? "on" : "off");
}

void configure_backend_logging(bool verbose) {
  // The CLI reports every failure in its own one line; TF's lines would only repeat or bury it.
  tf::set_log_level(verbose ? tf::LogLevel::kInfo : tf::LogLevel::kSilent);
}

}  // namespace hepinfer::cli
