#pragma once
// What a job asks its servers before planning: is each one up, and which of the models the
// modules need does it have ready (GET /v2/health/ready, GET /v2/models/NAME[/versions/V]/ready). The
// scheduler plans from the answers (scheduler::ServerOffer); it never touches the network itself.

#include <chrono>
#include <string>
#include <vector>

#include "hepinfer/remote/remote_model.h"
#include "hepinfer/scheduler/plan.h"

namespace hepinfer::remote {

// Asks every server in turn, each question bounded by `timeout`; never throws for a server that
// does not answer (its offer says why). Throws InvalidArgumentError for a malformed URL or TLS
// files that cannot be used.
std::vector<scheduler::ServerOffer> probe_servers(const std::vector<Endpoint>& servers,
                                                  const std::vector<ServedModel>& models,
                                                  std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

}  // namespace hepinfer::remote
