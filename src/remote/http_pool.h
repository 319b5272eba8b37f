#pragma once
// HTTP/1.1 to one server over kept-alive, pooled connections, driven by an io_context that the
// owner runs on one thread (every member is called on that thread). Boost.Beast, header-only:
// nothing is linked that could clash with the libraries TensorFlow's wheel exports.

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "hepinfer/core/load_options.h"

namespace hepinfer::remote::tls {
class ClientContext;
}

namespace hepinfer::remote::detail {

class BearerToken;

struct HttpTarget {
  std::string host;  // as in the URL: an IPv6 address in brackets, as the Host header wants it
  std::string port;
  // What the resolver takes: the host without an IPv6 address's brackets.
  std::string address() const {
    return host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
  }
  bool https = false;
  std::shared_ptr<const tls::ClientContext> tls;  // https: what every connection's TLS session starts from
  std::shared_ptr<BearerToken> token;             // sent with every request when set
};
// "http://HOST:PORT" or "https://HOST:PORT" (a trailing "/" allowed); InvalidArgumentError
// otherwise. An https target has no TLS context yet (server_target gives it one).
HttpTarget parse_base_url(const std::string& url);
// The target of `url` ready to connect to: for https, with a TLS context made from `tls`
// (InvalidArgumentError naming the URL and the file when its certificates or key cannot be used).
// With a `token_file`, every request carries its bearer token: only over https, or to a loopback
// address (InvalidArgumentError otherwise: a token sent in the clear can be replayed).
HttpTarget server_target(const std::string& url, const TlsOptions& tls, const std::string& token_file = {});

struct HttpRequest {
  std::string method;  // "GET", "POST"
  std::string path;    // "/v2/models/mlp/infer"
  std::string body;
  std::string content_type;                     // empty: none
  std::optional<std::size_t> inference_header;  // Inference-Header-Content-Length
};

enum class HttpFailure {
  kNone,
  kConnect,   // could not connect (refused, unreachable, not resolved)
  kTimeout,   // no complete reply within the time allowed
  kIo,        // the connection broke (reset, closed mid-reply)
  kTooLarge,  // the reply is above the size limit
  kProtocol,  // not HTTP
};

struct HttpReply {
  HttpFailure failure = HttpFailure::kNone;
  std::string error;  // what failed, for messages
  int status = 0;
  std::string body;
  std::optional<std::size_t> inference_header;  // a malformed header value is a kProtocol failure
  bool new_connection = false;                  // this attempt opened its connection
};

struct HttpPoolStatistics {
  std::int64_t connections_opened = 0;
};

class HttpPool {
 public:
  HttpPool(boost::asio::io_context& io, HttpTarget target, std::size_t max_connections, std::size_t max_reply_bytes);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  // Sends `request` on an idle connection, a new one (up to the limit), or when one frees up;
  // `done` runs once, on the io_context's thread, within `timeout` of this call plus queueing.
  // A kept-alive connection the server closed meanwhile is replaced once, transparently.
  void send(std::shared_ptr<const HttpRequest> request, std::chrono::steady_clock::duration timeout,
            std::function<void(HttpReply)> done);

  // Closes idle connections (e.g. after the server failed).
  void close_idle();
  HttpPoolStatistics statistics() const { return statistics_; }

  class Connection;
  class Exchange;

 private:
  struct Waiting {
    std::shared_ptr<const HttpRequest> request;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(HttpReply)> done;
  };
  void start(Waiting waiting, std::shared_ptr<Connection> connection);
  void finished(const std::shared_ptr<Connection>& connection, bool reusable);

  boost::asio::io_context& io_;
  HttpTarget target_;
  std::size_t max_connections_;
  std::size_t max_reply_bytes_;
  std::size_t open_connections_ = 0;
  std::vector<std::shared_ptr<Connection>> idle_;
  std::deque<Waiting> waiting_;
  std::optional<std::vector<boost::asio::ip::tcp::endpoint>> resolved_;
  HttpPoolStatistics statistics_;
};

// The addresses of `target`, resolved on the calling thread (no thread started); empty when the
// host does not resolve.
std::vector<boost::asio::ip::tcp::endpoint> resolve_here(const HttpTarget& target);

// One synchronous request on a fresh connection, for probes outside any pool.
HttpReply http_get(const HttpTarget& target, const std::string& path, std::chrono::milliseconds timeout,
                   std::size_t max_reply_bytes = std::size_t{16} << 20);

}  // namespace hepinfer::remote::detail
