#include "hepinfer/tensorflow/device_plan.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "model_loader.h"

namespace hepinfer::cli {

std::unique_ptr<Model> open_model(const std::string& path, const OpenOptions& options) {
  tf::set_log_level(tf::LogLevel::kWarning);  // TF's INFO lines would bury the tool's output
  tf::LoadOptions load;
  load.signature = options.signature;
  load.threading = options.threading;
  load.warmup_runs = options.warmup_runs;
  load.warmup_batch_sizes = options.warmup_batch_sizes;
  load.measure_memory = options.measure_memory;
  load.assignment = options.assignment;
  load.allowed_ops = options.allowed_ops;
  load.allow_unsafe_ops = options.allow_unsafe_ops;
  return tf::load_model(path, load);
}

scheduler::SchedulerHooks backend_scheduler_hooks() { return tf::runtime_hooks(); }

std::string backend_description() { return "TensorFlow " + tf::runtime_version(); }

}  // namespace hepinfer::cli
