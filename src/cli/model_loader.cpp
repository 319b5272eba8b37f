#include "model_loader.h"

#include "hepinfer/core/error.h"
#ifdef HEPINFER_HAS_XLA
#include "hepinfer/xla/xla_model.h"
#endif

namespace hepinfer::cli {

std::unique_ptr<Model> open_model(const std::string& path, const LoadOptions& options) {
#ifdef HEPINFER_HAS_XLA
  if (xla::is_xla_artifact(path)) return xla::load_model(path, options);
#else
  std::error_code ec;
  if (std::filesystem::is_regular_file(std::filesystem::path(path) / "manifest.json", ec) &&
      !std::filesystem::exists(std::filesystem::path(path) / "saved_model.pb", ec)) {
    throw UnsupportedError("'" + path + "' looks like an XLA artifact; this hepinfer was built without the XLA backend");
  }
#endif
  return open_tensorflow_model(path, options);
}

}  // namespace hepinfer::cli
