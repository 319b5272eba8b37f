#include "model_loader.h"

#include <cstdlib>

#include "hepinfer/core/error.h"
#ifdef HEPINFER_HAS_XLA
#include "hepinfer/xla/xla_model.h"
#endif
#ifdef HEPINFER_HAS_AOT
#include "hepinfer/aot/aot_model.h"
#endif
#ifdef HEPINFER_HAS_REMOTE
#include "hepinfer/remote/remote_model.h"
#endif

namespace hepinfer::cli {
namespace {

bool names_served_model(const std::string& path) {
  return path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0;
}

std::unique_ptr<Model> open_local_model(const std::string& path, const LoadOptions& options) {
#ifdef HEPINFER_HAS_AOT
  if (aot::is_aot_package(path)) return aot::load_model(path, options);
#endif
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

}  // namespace

std::unique_ptr<Model> open_model(const std::string& path, const LoadOptions& options) {
  const bool on_server = options.placement && options.placement->on_server();
  if (!names_served_model(path) && !on_server) return open_local_model(path, options);
#ifdef HEPINFER_HAS_REMOTE
  if (names_served_model(path)) {
    // A served model named by URL: a bearer token, if its gateway wants one, from the file that
    // $HEPINFER_TOKEN_FILE names (as $SSL_CERT_FILE names what it trusts).
    const remote::ModelReference reference = *remote::parse_model_reference(path);
    remote::Endpoint server = remote::server_of(reference);
    if (const char* token_file = std::getenv("HEPINFER_TOKEN_FILE")) server.token_file = token_file;
    return remote::connect({std::move(server)}, reference.model, options);
  }
  // The plan put the module on servers; its own model file is the local fallback, loaded on the
  // CPU the first time every server has failed.
  std::vector<remote::Endpoint> servers;
  for (const ServerPlacement& server : options.placement->servers) {
    servers.push_back({server.name, server.url, server.tls, server.token_file});
  }
  remote::RemoteOptions remote_options;
  if (options.placement->local_fallback) {
    LoadOptions local = options;
    local.placement->servers.clear();
    local.warmup_runs = 0;
    remote_options.local_fallback = [path, local] { return std::shared_ptr<const Model>(open_local_model(path, local)); };
    remote_options.local_fallback_name = "CPU";
  }
  return remote::connect(std::move(servers), options.placement->served_model, options, std::move(remote_options));
#else
  throw UnsupportedError("'" + path + "' is on an inference server; this hepinfer was built without the remote backend");
#endif
}

}  // namespace hepinfer::cli
