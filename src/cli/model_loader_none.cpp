#include "hepinfer/core/error.h"
#include "hepinfer/core/model_path_advice.h"
#include "model_loader.h"

namespace hepinfer::cli {

std::unique_ptr<Model> open_tensorflow_model(const std::string& path, const LoadOptions&) {
  if (const auto advice = advise_on_model_path(path)) throw InvalidModelError("'" + path + "' " + *advice);
  throw UnsupportedError("cannot open '" + path +
                         "': this hepinfer was built without TensorFlow (HEPINFER_WITH_TENSORFLOW=OFF)");
}

scheduler::SchedulerHooks backend_scheduler_hooks() { return {}; }

std::string backend_description() { return "no TensorFlow"; }

void configure_backend_logging(bool) {}

}  // namespace hepinfer::cli
