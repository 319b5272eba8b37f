#include "caller_connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <system_error>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>

#include "http_message.h"
#include "tls_stream.h"

namespace hepinfer::remote::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

beast::error_code last_system_error() { return {errno, asio::error::get_system_category()}; }

// Sleeps in poll() until `socket` is ready for `events` or `deadline` passes (beast's timeout
// error, so that it classifies as HttpPool's timer expiry does).
bool wait_until_ready(int socket, short events, Clock::time_point deadline, beast::error_code& error) {
  while (true) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      error = beast::error::timeout;
      return false;
    }
    pollfd ready{socket, events, 0};
    const int result = ::poll(&ready, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (result > 0) return true;  // ready, or an error or hang-up that the next call reports
    if (result < 0 && errno != EINTR) {
      error = last_system_error();
      return false;
    }
  }
}

// The socket's SO_RCVTIMEO and SO_SNDTIMEO, both `limit`.
bool set_blocking_limit(int socket, Clock::duration limit) {
  const auto micros = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::microseconds>(limit).count());
  const timeval value{static_cast<time_t>(micros / 1'000'000), static_cast<suseconds_t>(micros % 1'000'000)};
  return ::setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof value) == 0 &&
         ::setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &value, sizeof value) == 0;
}

// A blocking call may overrun the request's deadline by this much before the socket's limits are
// tightened to what is left (which costs two system calls).
constexpr Clock::duration kDeadlineSlack = std::chrono::milliseconds(20);

}  // namespace

// Beast's synchronous stream concepts over the connected socket, through the connection's TLS
// session when it has one. The socket blocks, as a plain client's would: a reply is waited for
// inside recv, with no poll before it. Each call is bounded by the request's deadline through the
// socket's SO_RCVTIMEO/SO_SNDTIMEO, which are tightened only when the deadline comes nearer than
// they allow (`limit`: what they are set to now, kept by the connection).
class CallerConnection::Stream {
 public:
  Stream(int socket, TlsChannel* tls, Clock::time_point deadline, Clock::duration& limit)
      : socket_(socket), tls_(tls), deadline_(deadline), limit_(limit) {}

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, beast::error_code& error) {
    error = {};
    asio::mutable_buffer target;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      target = *it;
      if (target.size() > 0) break;
    }
    if (target.size() == 0) return 0;
    if (tls_ == nullptr) return receive(target.data(), target.size(), error);
    while (true) {
      std::size_t plaintext = 0;
      switch (tls_->session.read(target.data(), target.size(), plaintext)) {
        case tls::Progress::kDone: return plaintext;
        case tls::Progress::kClosed: error = asio::error::eof; return 0;
        case tls::Progress::kTruncated: error = tls_truncated(); return 0;
        case tls::Progress::kFailed: error = tls_failure(); return 0;
        case tls::Progress::kWantInput: break;
      }
      if (!send_tls_output(error)) return 0;  // e.g. an answer to a key update
      const std::size_t received = receive(tls_->input.data(), tls_->input.size(), error);
      if (error == asio::error::eof) {
        error = {};
        tls_->session.receive_end();  // what is buffered is still read; then kClosed or kTruncated
      } else if (error) {
        return 0;
      } else {
        tls_->session.receive(tls_->input.data(), received);
      }
    }
  }

  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, beast::error_code& error) {
    error = {};
    if (tls_ != nullptr) {
      std::size_t plaintext = 0;
      if (!encrypt(*tls_, buffers, plaintext)) {
        error = tls_failure();
        return 0;
      }
      return send_tls_output(error) ? plaintext : 0;
    }
    constexpr std::size_t kMaxPieces = 64;  // Beast's header fields and the body: far fewer
    iovec pieces[kMaxPieces];
    std::size_t count = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers) && count < kMaxPieces;
         ++it) {
      const asio::const_buffer piece = *it;
      if (piece.size() == 0) continue;
      pieces[count++] = {const_cast<void*>(piece.data()), piece.size()};
    }
    if (count == 0) return 0;
    return send(pieces, count, error);
  }

  // Runs the TLS handshake to its end.
  bool handshake(beast::error_code& error) {
    while (true) {
      const tls::Progress progress = tls_->session.handshake();
      if (progress == tls::Progress::kFailed) {
        beast::error_code unsent;
        send_tls_output(unsent);  // the alert saying why, if there is one: best effort
        error = tls_failure();
        return false;
      }
      if (progress == tls::Progress::kClosed || progress == tls::Progress::kTruncated) {
        error = asio::error::eof;
        return false;
      }
      if (!send_tls_output(error)) return false;
      if (progress == tls::Progress::kDone) return true;
      const std::size_t received = receive(tls_->input.data(), tls_->input.size(), error);
      if (error) return false;
      tls_->session.receive(tls_->input.data(), received);
    }
  }

  // The throwing forms the stream concepts also ask for.
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    beast::error_code error;
    const std::size_t bytes = read_some(buffers, error);
    if (error) throw beast::system_error(error);
    return bytes;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    beast::error_code error;
    const std::size_t bytes = write_some(buffers, error);
    if (error) throw beast::system_error(error);
    return bytes;
  }

 private:
  // Before a blocking call: false (a timeout) once the deadline has passed; the socket's limits
  // tightened when they would let the call run well past it.
  bool within_deadline(beast::error_code& error) {
    const Clock::duration left = deadline_ - Clock::now();
    if (left <= Clock::duration::zero()) {
      error = beast::error::timeout;
      return false;
    }
    if (limit_ > left + kDeadlineSlack) {
      if (!set_blocking_limit(socket_, left)) {
        error = last_system_error();
        return false;
      }
      limit_ = left;
    }
    return true;
  }

  // After a blocking call timed out (EAGAIN): limits set for an earlier request's deadline may be
  // shorter than this one's; they are widened to what is left and the call is tried again.
  bool widen_limit(beast::error_code& error) {
    const Clock::duration left = deadline_ - Clock::now();
    if (left <= Clock::duration::zero() || limit_ >= left) {
      error = beast::error::timeout;
      return false;
    }
    if (!set_blocking_limit(socket_, left)) {
      error = last_system_error();
      return false;
    }
    limit_ = left;
    return true;
  }

  std::size_t receive(void* data, std::size_t size, beast::error_code& error) {
    while (within_deadline(error)) {
      const ssize_t received = ::recv(socket_, data, size, 0);
      if (received > 0) return static_cast<std::size_t>(received);
      if (received == 0) {
        error = asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        error = last_system_error();
        return 0;
      }
      if (!widen_limit(error)) return 0;
    }
    return 0;
  }

  std::size_t send(iovec* pieces, std::size_t count, beast::error_code& error) {
    msghdr message{};
    message.msg_iov = pieces;
    message.msg_iovlen = count;
    while (within_deadline(error)) {
      const ssize_t sent = ::sendmsg(socket_, &message, MSG_NOSIGNAL);
      if (sent > 0) return static_cast<std::size_t>(sent);
      if (sent == 0 || errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        error = last_system_error();
        return 0;
      }
      if (!widen_limit(error)) return 0;
    }
    return 0;
  }

  // Sends every byte of ciphertext the session has for the server.
  bool send_tls_output(beast::error_code& error) {
    tls_->session.take_output(tls_->output);
    std::size_t done = 0;
    while (done < tls_->output.size()) {
      iovec piece{tls_->output.data() + done, tls_->output.size() - done};
      const std::size_t sent = send(&piece, 1, error);
      if (error) return false;
      done += sent;
    }
    tls_->output.clear();
    return true;
  }

  int socket_;
  TlsChannel* tls_;
  Clock::time_point deadline_;
  Clock::duration& limit_;
};

CallerConnection::CallerConnection(HttpTarget target, std::vector<asio::ip::tcp::endpoint> endpoints,
                                   std::size_t max_reply_bytes)
    : target_(std::move(target)), endpoints_(std::move(endpoints)), max_reply_bytes_(max_reply_bytes) {
  buffer_.reserve(kReplyReadBufferBytes);
}

CallerConnection::~CallerConnection() { close(); }

void CallerConnection::close() {
  if (socket_ >= 0) ::close(socket_);
  socket_ = -1;
  tls_.reset();
  used_ = false;
  buffer_.consume(buffer_.size());
}

bool CallerConnection::connect(Clock::time_point deadline, HttpReply& reply) {
  std::string last_error = "no address to connect to";
  for (const asio::ip::tcp::endpoint& endpoint : endpoints_) {
    const int socket = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (socket < 0) {
      last_error = last_system_error().message();
      continue;
    }
    int result = ::connect(socket, endpoint.data(), static_cast<socklen_t>(endpoint.size()));
    if (result != 0 && errno == EINPROGRESS) {
      beast::error_code error;
      if (!wait_until_ready(socket, POLLOUT, deadline, error)) {
        ::close(socket);
        reply.failure = error == beast::error::timeout ? HttpFailure::kTimeout : HttpFailure::kConnect;
        reply.error = "connect: " + error.message();
        return false;
      }
      int pending = 0;
      socklen_t size = sizeof pending;
      result = ::getsockopt(socket, SOL_SOCKET, SO_ERROR, &pending, &size) == 0 && pending == 0 ? 0 : -1;
      if (pending != 0) errno = pending;
    }
    // Connected: from now on the socket blocks, each call bounded by its limits (Stream).
    if (result == 0 && ::fcntl(socket, F_SETFL, ::fcntl(socket, F_GETFL) & ~O_NONBLOCK) == 0 &&
        set_blocking_limit(socket, std::max<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(1)))) {
      const int on = 1;
      ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      socket_ = socket;
      limit_ = std::max<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(1));
      return !target_.https || secure(deadline, reply);
    }
    last_error = last_system_error().message();
    ::close(socket);
  }
  reply.failure = HttpFailure::kConnect;
  reply.error = "connect: " + last_error;
  return false;
}

bool CallerConnection::secure(Clock::time_point deadline, HttpReply& reply) {
  tls_ = std::make_unique<TlsChannel>(target_);
  beast::error_code error;
  if (Stream(socket_, tls_.get(), deadline, limit_).handshake(error)) return true;
  reply.failure = error == beast::error::timeout ? HttpFailure::kTimeout : HttpFailure::kConnect;
  reply.error = error == tls_failure() ? tls_->session.error()
                                       : "TLS handshake with '" + target_.host + "': " + error.message();
  close();
  return false;
}

HttpReply CallerConnection::exchange(const HttpRequest& request, Clock::duration timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  const auto message = beast_request(request, target_);
  HttpReply reply;
  for (bool replaced_stale = false;; replaced_stale = true) {
    const bool was_used = used_;
    if (socket_ < 0) {
      if (!connect(deadline, reply)) return reply;
      reply.new_connection = true;
    }
    Stream stream(socket_, tls_.get(), deadline, limit_);
    beast::error_code error;
    http::write(stream, message, error);
    bool got_some = false;
    if (!error) {
      http::response_parser<http::string_body> parser;
      parser.body_limit(max_reply_bytes_);
      parser.header_limit(kMaxReplyHeaderBytes);
      http::read(stream, buffer_, parser, error);
      if (!error) {
        const bool keep_alive = parser.keep_alive();
        fill_reply(parser.release(), reply);
        used_ = true;
        if (!keep_alive || reply.failure != HttpFailure::kNone) close();
        return reply;
      }
      got_some = parser.got_some();
    }
    std::string why = error == tls_failure() && tls_ ? tls_->session.error() : error.message();
    if (!got_some && tls_ && closed_under_write(error)) {
      const std::string alert = alert_before_close(*tls_, [this](void* data, std::size_t size) {
        const ssize_t received = ::recv(socket_, data, size, MSG_DONTWAIT);
        return received > 0 ? static_cast<std::size_t>(received) : std::size_t{0};
      });
      if (!alert.empty()) why = alert;
    }
    close();
    // A kept-alive connection the server closed while idle fails at once; that says nothing about
    // the server, so the request goes once more on a new connection.
    if (was_used && !replaced_stale && !got_some && stale_connection_error(error)) continue;
    reply.failure = classify(error);
    reply.error = why;
    return reply;
  }
}

}  // namespace hepinfer::remote::detail
