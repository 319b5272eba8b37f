#include <charconv>

#include "hepinfer/core/error.h"
#include "hepinfer/remote/remote_model.h"
#include "http_pool.h"

namespace hepinfer::remote {

std::optional<ModelReference> parse_model_reference(std::string_view text) {
  if (!is_model_reference(text)) return std::nullopt;
  constexpr std::string_view kModels = "/v2/models/";
  const auto models = text.find(kModels);
  if (models == std::string_view::npos) {
    throw InvalidArgumentError("model URL '" + std::string(text) + "' is not http(s)://HOST:PORT/v2/models/NAME");
  }
  ModelReference reference;
  reference.server_url = std::string(text.substr(0, models));
  std::string_view rest = text.substr(models + kModels.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  constexpr std::string_view kVersions = "/versions/";
  std::string_view name = rest;
  std::string_view version;
  if (const auto versions = rest.find(kVersions); versions != std::string_view::npos) {
    name = rest.substr(0, versions);
    version = rest.substr(versions + kVersions.size());
    if (version.empty()) {
      throw InvalidArgumentError("model URL '" + std::string(text) + "' names no version after /versions/");
    }
  }
  if (name.empty() || name.find_first_of("/?# ") != std::string_view::npos ||
      version.find_first_of("/?# ") != std::string_view::npos) {
    throw InvalidArgumentError("model URL '" + std::string(text) +
                               "' must end in /v2/models/NAME or /v2/models/NAME/versions/VERSION "
                               "(no query or further path)");
  }
  reference.model = ServedModel(std::string(name), std::string(version));
  detail::parse_base_url(reference.server_url);  // throws for a malformed host or port
  return reference;
}

Endpoint server_of(const ModelReference& reference) {
  return {.name = reference.server_url.substr(reference.server_url.find("://") + 3), .url = reference.server_url};
}

bool is_model_reference(std::string_view text) {
  return text.substr(0, 7) == "http://" || text.substr(0, 8) == "https://";
}

}  // namespace hepinfer::remote
