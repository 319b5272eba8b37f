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
  std::string_view name = text.substr(models + kModels.size());
  if (!name.empty() && name.back() == '/') name.remove_suffix(1);
  if (name.empty() || name.find_first_of("/?# ") != std::string_view::npos) {
    throw InvalidArgumentError("model URL '" + std::string(text) +
                               "' must end in /v2/models/NAME (no version, query or further path)");
  }
  reference.model = std::string(name);
  detail::parse_base_url(reference.server_url);  // throws for a malformed host or port
  return reference;
}

bool is_model_reference(std::string_view text) {
  return text.substr(0, 7) == "http://" || text.substr(0, 8) == "https://";
}

}  // namespace hepinfer::remote
