#include "hepinfer/remote/server_probe.h"

#include "http_pool.h"
#include "oip_codec.h"

namespace hepinfer::remote {

std::vector<scheduler::ServerOffer> probe_servers(const std::vector<Endpoint>& servers,
                                                  const std::vector<ServedModel>& models,
                                                  std::chrono::milliseconds timeout) {
  std::vector<scheduler::ServerOffer> offers;
  for (const Endpoint& server : servers) {
    const detail::HttpTarget target = detail::server_target(server.url, server.tls, server.token_file);
    scheduler::ServerOffer offer{
        .name = server.name, .url = server.url, .tls = server.tls, .token_file = server.token_file};
    detail::HttpReply health = detail::http_get(target, "/v2/health/ready", timeout);
    if (health.failure != detail::HttpFailure::kNone) {
      offer.note = health.error;
    } else if (health.status == 401 || health.status == 403) {
      offer.note = "access refused (HTTP " + std::to_string(health.status) + ")" +
                   (server.token_file.empty() ? "; give the server a token_file"
                                              : " to the token in " + server.token_file);
    } else if (health.status != 200) {
      offer.note = "not ready (HTTP " + std::to_string(health.status) + ")";
    } else {
      offer.live = true;
      for (const ServedModel& model : models) {
        detail::HttpReply ready = detail::http_get(target, detail::model_path(model) + "/ready", timeout);
        if (ready.failure == detail::HttpFailure::kNone && ready.status == 200) offer.ready_models.push_back(model);
      }
    }
    offers.push_back(std::move(offer));
  }
  return offers;
}

}  // namespace hepinfer::remote
