#include "http_pool.h"

#include <charconv>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "hepinfer/core/error.h"
#include "bearer_token.h"
#include "http_message.h"
#include "tls_engine.h"
#include "tls_stream.h"

namespace hepinfer::remote::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

}  // namespace

HttpTarget parse_base_url(const std::string& url) {
  constexpr std::string_view kPlain = "http://", kSecure = "https://";
  std::string_view rest(url);
  HttpTarget target;
  if (rest.substr(0, kPlain.size()) == kPlain) {
    rest.remove_prefix(kPlain.size());
  } else if (rest.substr(0, kSecure.size()) == kSecure) {
    rest.remove_prefix(kSecure.size());
    target.https = true;
  } else {
    throw InvalidArgumentError("server URL '" + url + "' is not http://HOST:PORT or https://HOST:PORT");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || rest.find('/') != std::string_view::npos) {
    throw InvalidArgumentError("server URL '" + url + "' is not " + (target.https ? "https" : "http") +
                               "://HOST:PORT");
  }
  target.host = std::string(rest.substr(0, colon));
  target.port = std::string(rest.substr(colon + 1));
  int port = 0;
  auto [end, error] = std::from_chars(target.port.data(), target.port.data() + target.port.size(), port);
  if (error != std::errc() || end != target.port.data() + target.port.size() || port < 1 || port > 65535) {
    throw InvalidArgumentError("server URL '" + url + "': port '" + target.port + "' is not 1-65535");
  }
  return target;
}

namespace {

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

}  // namespace

HttpTarget server_target(const std::string& url, const TlsOptions& tls, const std::string& token_file) {
  HttpTarget target = parse_base_url(url);
  if (!token_file.empty()) {
    if (!target.https && !is_loopback(target.address())) {
      throw InvalidArgumentError("server URL '" + url + "': a bearer token ('" + token_file +
                                 "') is sent only over https, or to a loopback address; anyone on the way could "
                                 "replay it");
    }
    try {
      target.token = std::make_shared<BearerToken>(token_file);
    } catch (const Error& error) {
      throw_error(error.code(), "server URL '" + url + "': " + error.what());
    }
  }
  if (!target.https) return target;
  std::string error;
  target.tls = tls::ClientContext::create(
      {.ca_file = tls.ca_file, .certificate_file = tls.certificate_file, .private_key_file = tls.private_key_file},
      error);
  if (target.tls == nullptr) throw InvalidArgumentError("server URL '" + url + "': " + error);
  return target;
}

class HttpPool::Connection {
 public:
  explicit Connection(asio::io_context& io) : stream(io) { buffer.reserve(kReplyReadBufferBytes); }
  beast::tcp_stream stream;
  std::unique_ptr<TlsChannel> tls;   // https: the session, made when the connection is
  std::optional<TlsStream> secure;   // https: HTTP goes through this instead of `stream`
  beast::flat_buffer buffer;
  bool connected = false;
  bool used = false;  // served a request before: a failure may just mean the server closed it
  http::request<http::span_body<const char>> request;
  std::optional<http::response_parser<http::string_body>> parser;
};

HttpPool::HttpPool(asio::io_context& io, HttpTarget target, std::size_t max_connections, std::size_t max_reply_bytes)
    : io_(io), target_(std::move(target)), max_connections_(std::max<std::size_t>(1, max_connections)),
      max_reply_bytes_(max_reply_bytes) {
  if (target_.https && target_.tls == nullptr) {
    throw InternalError("HTTPS target " + target_.host + ":" + target_.port + " has no TLS context (server_target)");
  }
}

HttpPool::~HttpPool() {
  for (auto& connection : idle_) {
    beast::error_code ignored;
    connection->stream.socket().close(ignored);
  }
}

void HttpPool::close_idle() {
  for (auto& connection : idle_) {
    beast::error_code ignored;
    connection->stream.socket().close(ignored);
    --open_connections_;
  }
  idle_.clear();
}

void HttpPool::send(std::shared_ptr<const HttpRequest> request, Clock::duration timeout,
                    std::function<void(HttpReply)> done) {
  Waiting waiting{std::move(request), Clock::now() + timeout, std::move(done)};
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    start(std::move(waiting), std::move(connection));
  } else if (open_connections_ < max_connections_) {
    ++open_connections_;
    start(std::move(waiting), std::make_shared<Connection>(io_));
  } else {
    waiting_.push_back(std::move(waiting));
  }
}

void HttpPool::finished(const std::shared_ptr<Connection>& connection, bool reusable) {
  if (reusable) {
    connection->used = true;
    connection->parser.reset();
    idle_.push_back(connection);
  } else {
    beast::error_code ignored;
    connection->stream.socket().close(ignored);
    --open_connections_;
  }
  if (!waiting_.empty() && (!idle_.empty() || open_connections_ < max_connections_)) {
    Waiting next = std::move(waiting_.front());
    waiting_.pop_front();
    std::shared_ptr<Connection> free_connection;
    if (!idle_.empty()) {
      free_connection = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_connections_;
      free_connection = std::make_shared<Connection>(io_);
    }
    start(std::move(next), std::move(free_connection));
  }
}

// One request's way through connect, write and read; every handler holds it alive.
class HttpPool::Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(HttpPool& pool, Waiting waiting, std::shared_ptr<Connection> connection)
      : pool_(pool), waiting_(std::move(waiting)), connection_(std::move(connection)) {}

  void begin() {
    if (connection_->connected) {
      write();
    } else {
      connect();
    }
  }

 private:
  Clock::duration remaining() const {
    return std::max<Clock::duration>(waiting_.deadline - Clock::now(), std::chrono::milliseconds(1));
  }

  void connect() {
    new_connection_ = true;
    ++pool_.statistics_.connections_opened;
    if (pool_.resolved_) {
      connect_resolved();
      return;
    }
    auto resolver = std::make_shared<tcp::resolver>(pool_.io_);
    resolver->async_resolve(pool_.target_.address(), pool_.target_.port,
                            [self = shared_from_this(), resolver](beast::error_code error,
                                                                  const tcp::resolver::results_type& results) {
                              if (error || results.empty()) {
                                self->fail(HttpFailure::kConnect,
                                           "resolving '" + self->pool_.target_.host + "': " + error.message());
                                return;
                              }
                              self->pool_.resolved_.emplace(results.begin(), results.end());
                              self->connect_resolved();
                            });
  }

  void connect_resolved() {
    connection_->stream.expires_after(remaining());
    connection_->stream.async_connect(*pool_.resolved_, [self = shared_from_this()](beast::error_code error,
                                                                                    const tcp::endpoint&) {
      if (error) {
        self->fail(error == beast::error::timeout ? HttpFailure::kTimeout : HttpFailure::kConnect,
                   "connect: " + error.message());
        return;
      }
      beast::error_code ignored;
      self->connection_->stream.socket().set_option(tcp::no_delay(true), ignored);
      if (self->pool_.target_.https) {
        self->handshake();
        return;
      }
      self->connection_->connected = true;
      self->write();
    });
  }

  void handshake() {
    Connection& connection = *connection_;
    connection.tls = std::make_unique<TlsChannel>(pool_.target_);
    connection.secure.emplace(connection.stream, *connection.tls);
    async_tls_handshake(connection.stream, *connection.tls, [self = shared_from_this()](beast::error_code error) {
      if (error) {
        self->fail(error == beast::error::timeout ? HttpFailure::kTimeout : HttpFailure::kConnect,
                   error == tls_failure() ? self->describe(error)
                                          : "TLS handshake with '" + self->pool_.target_.host + "': " + error.message());
        return;
      }
      self->connection_->connected = true;
      self->write();
    });
  }

  // A TLS failure's own message (the session knows what failed), else the error's.
  std::string describe(const beast::error_code& error) const {
    if (error == tls_failure() && connection_->tls) return connection_->tls->session.error();
    return error.message();
  }

  // The TLS alert that arrived before the server closed the connection under a write, if any.
  std::string alert_before_close(const beast::error_code& error) {
    if (!connection_->tls || !closed_under_write(error)) return {};
    tcp::socket& socket = connection_->stream.socket();
    beast::error_code ignored;
    socket.non_blocking(true, ignored);
    return detail::alert_before_close(*connection_->tls, [&socket](void* data, std::size_t size) {
      beast::error_code would_block_or_closed;
      return socket.read_some(boost::asio::buffer(data, size), would_block_or_closed);
    });
  }

  template <class Operation>
  void on_stream(Operation&& operation) {
    if (connection_->secure) {
      operation(*connection_->secure);
    } else {
      operation(connection_->stream);
    }
  }

  void write() {
    connection_->request = beast_request(*waiting_.request, pool_.target_);
    connection_->stream.expires_after(remaining());
    on_stream([this](auto& stream) {
      http::async_write(stream, connection_->request, [self = shared_from_this()](beast::error_code error, std::size_t) {
        if (error && self->retry_on_fresh_connection(error)) return;
        if (error) {
          const std::string alert = self->alert_before_close(error);
          self->fail(classify(error), alert.empty() ? self->describe(error) : alert);
          return;
        }
        self->read();
      });
    });
  }

  void read() {
    connection_->parser.emplace();
    connection_->parser->body_limit(pool_.max_reply_bytes_);
    connection_->parser->header_limit(kMaxReplyHeaderBytes);
    // The deadline set before the write still holds: one timer update per request, not two.
    on_stream([this](auto& stream) {
      http::async_read(stream, connection_->buffer, *connection_->parser,
                       [self = shared_from_this()](beast::error_code error, std::size_t) {
                         if (error && self->connection_->parser->got_some() == false &&
                             self->retry_on_fresh_connection(error)) {
                           return;
                         }
                         if (error) {
                           self->fail(classify(error), self->describe(error));
                           return;
                         }
                         self->succeed();
                       });
    });
  }

  // A kept-alive connection the server closed while it was idle fails at once; that says nothing
  // about the server, so the request goes once more on a new connection.
  bool retry_on_fresh_connection(const beast::error_code& error) {
    if (!connection_->used || replaced_stale_ || !stale_connection_error(error)) return false;
    replaced_stale_ = true;
    beast::error_code ignored;
    connection_->stream.socket().close(ignored);
    connection_ = std::make_shared<Connection>(pool_.io_);
    connect();
    return true;
  }

  void succeed() {
    HttpReply reply;
    reply.new_connection = new_connection_;
    const bool keep_alive = connection_->parser->keep_alive();
    fill_reply(connection_->parser->release(), reply);
    pool_.finished(connection_, keep_alive && reply.failure == HttpFailure::kNone);
    waiting_.done(std::move(reply));
  }

  void fail(HttpFailure failure, std::string error) {
    HttpReply reply;
    reply.failure = failure;
    reply.error = std::move(error);
    reply.new_connection = new_connection_;
    pool_.finished(connection_, false);
    waiting_.done(std::move(reply));
  }

  HttpPool& pool_;
  Waiting waiting_;
  std::shared_ptr<Connection> connection_;
  bool new_connection_ = false;
  bool replaced_stale_ = false;
};

void HttpPool::start(Waiting waiting, std::shared_ptr<Connection> connection) {
  std::make_shared<Exchange>(*this, std::move(waiting), std::move(connection))->begin();
}

std::vector<tcp::endpoint> resolve_here(const HttpTarget& target) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code error;
  const tcp::resolver::results_type results = resolver.resolve(target.address(), target.port, error);
  if (error) return {};
  return {results.begin(), results.end()};
}

HttpReply http_get(const HttpTarget& target, const std::string& path, std::chrono::milliseconds timeout,
                   std::size_t max_reply_bytes) {
  asio::io_context io;
  HttpPool pool(io, target, 1, max_reply_bytes);
  HttpReply result;
  auto request = std::make_shared<HttpRequest>();
  request->method = "GET";
  request->path = path;
  pool.send(request, timeout, [&result](HttpReply reply) { result = std::move(reply); });
  io.run();
  return result;
}

}  // namespace hepinfer::remote::detail
