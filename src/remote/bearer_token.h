#pragma once
// A bearer token read from a file and sent to a server as "Authorization: Bearer TOKEN" (servers
// behind an authenticating gateway: KServe with Istio, Triton behind an Ingress that checks
// tokens). Files, not values, so that no secret sits in a workflow, and so that a token the site
// rotates (a Kubernetes projected service-account token, an OIDC access token kept fresh by a
// refresher) is picked up: the file is read again when a server refuses the token.

#include <cstdint>
#include <mutex>
#include <string>

namespace hepinfer::remote::detail {

class BearerToken {
 public:
  // Reads `file`. FileNotFoundError when it cannot be read; InvalidArgumentError naming it when it
  // holds no token (empty, more than one line, characters a header cannot carry, over 16 KB).
  explicit BearerToken(std::string file);

  const std::string& file() const { return file_; }
  // "Bearer TOKEN", for the Authorization header. Thread-safe.
  std::string header() const;
  // Reads the file again: true when it now holds another usable token. A file that has become
  // unreadable or unusable keeps the old token (false). Thread-safe.
  bool reload();
  // How many times reload() found another token: a request refused with an older generation than
  // the current one was refused a token that is no longer sent.
  std::uint64_t generation() const;

 private:
  std::string file_;
  mutable std::mutex mutex_;
  std::string header_;
  std::uint64_t generation_ = 0;
};

}  // namespace hepinfer::remote::detail
